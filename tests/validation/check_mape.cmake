# Runs `trainsim validate` on the public runs and checks the summary against
# the limits passed in: -DMAX_MAPE=<percent> -DMIN_SIMULATED=<rows>.
execute_process(
  COMMAND ${TRAINSIM} validate ${CSV} --engine analytic --format json
  OUTPUT_VARIABLE OUT ERROR_VARIABLE ERR RESULT_VARIABLE RC)
if(NOT RC EQUAL 0)
  message(FATAL_ERROR "trainsim validate exited with ${RC}:\n${ERR}")
endif()
string(JSON MAPE GET "${OUT}" summary mape_pct)
string(JSON SIMULATED GET "${OUT}" summary simulated)
string(JSON N GET "${OUT}" summary n)
string(JSON ROWS GET "${OUT}" summary rows)
message(STATUS "rows ${ROWS}, simulated ${SIMULATED}, compared ${N}, MAPE ${MAPE}% (limit ${MAX_MAPE}%)")
if(MAPE STREQUAL "NOTFOUND" OR MAPE STREQUAL "null")
  message(FATAL_ERROR "no MAPE in the summary (no row compared)")
endif()
if(MAPE GREATER MAX_MAPE)
  message(FATAL_ERROR "MAPE ${MAPE}% rose above the project's level of ${MAX_MAPE}%")
endif()
if(SIMULATED LESS MIN_SIMULATED)
  message(FATAL_ERROR "only ${SIMULATED} rows simulated; the project reached ${MIN_SIMULATED}")
endif()
