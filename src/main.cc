// The trainsim binary: the libraries plus this thin main (as ninja's).
#include "cli/cli.h"

int main(int argc, char** argv) { return trainsim::cli::run_main(argc, argv); }
