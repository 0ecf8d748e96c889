#!/usr/bin/env bash
# The long version of the adversarial stress: every layer at once for SECONDS (default 600), then the
# hang, content, lock-order and consistency checks of tests/.../Hardening/Stress. Prints the run's figures.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
GMM_STRESS_SECONDS=$seconds dotnet test tests/GuestMemory.Tests -c Release \
  --filter "FullyQualifiedName~EveryLayerStressTests|FullyQualifiedName~FrameOrderFuzzTests|FullyQualifiedName~DisposeTests|FullyQualifiedName~StaleHandleTests" \
  --logger "console;verbosity=detailed" -- RunConfiguration.TestSessionTimeout=$(( (seconds + 600) * 1000 ))
