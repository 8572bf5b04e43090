// Self-test kernels of the simulator (cuda/sim/selftest_kernels.cu, built only into cuda-sim), reached from
// JS through native.simSelfTest(name, input, params). Each test runs one small kernel and returns its output
// as floats; the deliberately wrong ones throw hgc::Error(CUDA) from the launch.
#pragma once
#include <string>
#include <vector>

namespace hgc::sim_selftest {

std::vector<float> run(const std::string& name, const std::vector<float>& input, const std::vector<double>& params);

// The stream-capture rules at the runtime API (selftest_capture.cc; the test name is 'capture').
std::vector<float> capture();

}  // namespace hgc::sim_selftest
