# Runs `trainsim validate` on the public runs and checks the summary against
# the limits passed in: -DMAX_MAPE=<percent> (MAPE of the step time),
# -DMAX_METRIC_MAPE=<percent> (MAPE on the rows' published metrics),
# -DMIN_SIMULATED=<rows>.
execute_process(
  COMMAND ${TRAINSIM} validate ${CSV} --engine analytic --format json
  OUTPUT_VARIABLE OUT ERROR_VARIABLE ERR RESULT_VARIABLE RC)
if(NOT RC EQUAL 0)
  message(FATAL_ERROR "trainsim validate exited with ${RC}:\n${ERR}")
endif()
# string(JSON ... GET) gives an empty string for a JSON null and fails the
# script for a missing member; an empty or non-numeric value or limit would
# make if(... GREATER ...) false and pass silently, so each is checked first.
string(JSON MAPE GET "${OUT}" summary mape_pct)
string(JSON METRIC_MAPE GET "${OUT}" summary published_metric mape_pct)
string(JSON SIMULATED GET "${OUT}" summary simulated)
string(JSON N GET "${OUT}" summary n)
string(JSON ROWS GET "${OUT}" summary rows)
message(STATUS "rows ${ROWS}, simulated ${SIMULATED}, compared ${N}, MAPE of the step time ${MAPE}% "
               "(limit ${MAX_MAPE}%), on the published metrics ${METRIC_MAPE}% (limit ${MAX_METRIC_MAPE}%)")
set(NUMBER_RE "^[0-9]+(\\.[0-9]*)?([eE][-+]?[0-9]+)?$")
foreach(V MAPE METRIC_MAPE SIMULATED MAX_MAPE MAX_METRIC_MAPE MIN_SIMULATED)
  if(NOT "${${V}}" MATCHES "${NUMBER_RE}")
    message(FATAL_ERROR "${V} is \"${${V}}\", not a number (no row compared, or a limit not passed)")
  endif()
endforeach()
if(MAPE GREATER MAX_MAPE)
  message(FATAL_ERROR "MAPE of the step time ${MAPE}% rose above the project's level of ${MAX_MAPE}%")
endif()
if(METRIC_MAPE GREATER MAX_METRIC_MAPE)
  message(FATAL_ERROR "MAPE on the published metrics ${METRIC_MAPE}% rose above the project's level of ${MAX_METRIC_MAPE}%")
endif()
if(SIMULATED LESS MIN_SIMULATED)
  message(FATAL_ERROR "only ${SIMULATED} rows simulated; the project reached ${MIN_SIMULATED}")
endif()
