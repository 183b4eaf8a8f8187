"""How many customers a chunk holds is a memory setting: it never changes a byte of the scores file."""

import pytest
from robust_helpers import AS_OF, run

# End to end through the command line or a trained model: part of make test, not of make test-fast.
pytestmark = pytest.mark.slow


def test_three_chunk_sizes_give_byte_identical_scores(trained, tmp_path):
    outputs = []
    for size in (97, 400, 200_000):
        cfg = tmp_path / f"chunk{size}.yaml"
        cfg.write_text((trained / "fast.yaml").read_text() + f"scoring:\n  chunk_customers: {size}\n")
        out = tmp_path / f"scores_{size}.csv"
        proc = run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--config", str(cfg), "--out", str(out), cwd=trained)
        assert proc.returncode == 0, proc.stderr
        outputs.append(out.read_bytes())
    assert len(outputs[0].splitlines()) > 900  # several chunks at the smallest size
    assert outputs[0] == outputs[1] == outputs[2]
