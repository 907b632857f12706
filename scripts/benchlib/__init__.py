"""The parts of scripts/bench, the benchmark of heaptrace against DESIGN.md's
budget; scripts/bench reads the options and runs them."""
