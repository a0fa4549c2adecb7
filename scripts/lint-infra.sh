#!/usr/bin/env bash
# cfn-lint and checkov on the template, plus its static IAM tests. Suppressions live in
# the template's Metadata, each with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .ci/venv-infra/bin/checkov ]; then
  python3 -m venv .ci/venv-infra
  .ci/venv-infra/bin/pip install -q --disable-pip-version-check -r .ci/requirements-infra.txt
fi
export PATH="$PWD/.ci/venv-infra/bin:$PATH"
cfn-lint infra/template.yaml
checkov --quiet --compact --skip-download --framework cloudformation -f infra/template.yaml
python3 -m unittest infra/test_template.py
