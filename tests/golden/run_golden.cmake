cmake_minimum_required(VERSION 3.22)  # policies NEW: "@SOURCE_DIR@" is a literal, not a variable reference
# Runs one golden case: the trainsim command line in CASE/args (one line,
# shell-quoted; @SOURCE_DIR@ is replaced by the source tree), compares stdout
# with CASE/expected and the exit code with CASE/rc (default 0). With the
# environment variable TRAINSIM_UPDATE_GOLDEN=1 it rewrites the references.
file(READ ${CASE}/args ARGS_LINE)
string(STRIP "${ARGS_LINE}" ARGS_LINE)
string(REPLACE "@SOURCE_DIR@" "${SOURCE_DIR}" ARGS_LINE "${ARGS_LINE}")
separate_arguments(ARGS_LIST UNIX_COMMAND "${ARGS_LINE}")
execute_process(COMMAND ${TRAINSIM} ${ARGS_LIST}
  OUTPUT_VARIABLE OUT ERROR_VARIABLE ERR RESULT_VARIABLE RC
  WORKING_DIRECTORY ${CASE})
string(REPLACE "${SOURCE_DIR}" "@SOURCE_DIR@" OUT "${OUT}")
string(REPLACE "${SOURCE_DIR}" "@SOURCE_DIR@" ERR "${ERR}")
set(EXPECTED_RC 0)
if(EXISTS ${CASE}/rc)
  file(READ ${CASE}/rc EXPECTED_RC)
  string(STRIP "${EXPECTED_RC}" EXPECTED_RC)
endif()
# A case expecting failure compares stderr; otherwise stdout.
if(NOT EXPECTED_RC EQUAL 0)
  set(ACTUAL "${ERR}")
else()
  set(ACTUAL "${OUT}")
endif()
if("$ENV{TRAINSIM_UPDATE_GOLDEN}" STREQUAL "1")
  # Record what this run produced: stderr for a failing command, else stdout.
  if(NOT RC EQUAL 0)
    set(ACTUAL "${ERR}")
  else()
    set(ACTUAL "${OUT}")
  endif()
  file(WRITE ${CASE}/expected "${ACTUAL}")
  file(WRITE ${CASE}/rc "${RC}\n")
  message(STATUS "updated ${CASE}")
  return()
endif()
if(NOT RC EQUAL EXPECTED_RC)
  message(FATAL_ERROR "exit code ${RC}, expected ${EXPECTED_RC}\nstdout:\n${OUT}\nstderr:\n${ERR}")
endif()
file(READ ${CASE}/expected EXPECTED)
if(NOT ACTUAL STREQUAL EXPECTED)
  file(WRITE ${CASE}/actual.tmp "${ACTUAL}")
  execute_process(COMMAND diff -u ${CASE}/expected ${CASE}/actual.tmp OUTPUT_VARIABLE DIFF)
  file(REMOVE ${CASE}/actual.tmp)
  message(FATAL_ERROR "output differs from ${CASE}/expected:\n${DIFF}")
endif()
