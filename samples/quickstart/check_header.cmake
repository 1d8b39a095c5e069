# Checks that include/deltavk.h's complete example is samples/quickstart/main.c, line for line
# (the sample_quickstart_header test): the header shows the program that sample_quickstart
# builds and runs, so neither can change without the other.
#   cmake -DHEADER=include/deltavk.h -DSOURCE=samples/quickstart/main.c -P check_header.cmake
file(READ "${SOURCE}" src)
string(REGEX REPLACE "\n$" "" src "${src}")
# each line as the header's comment shows it: " *     <line>", or " *" when empty
string(REPLACE "\n" "\n *     " body "${src}")
set(body " *     ${body}\n")
string(REPLACE " *     \n" " *\n" body "${body}")
file(READ "${HEADER}" header)
string(FIND "${header}" "${body}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${HEADER}: its complete example differs from ${SOURCE}; copy the file "
                      "into the header's comment, each line after a star and five spaces")
endif()
message(STATUS "${HEADER}: the complete example is ${SOURCE}")
