"""Unreadable files and hostile configs: a documented status and a message naming the file and line or key."""

import errno
import sys

import pytest
from robust_helpers import AS_OF, run

# End to end through the command line or a trained model: part of make test, not of make test-fast.
pytestmark = pytest.mark.slow

SUBS_HEAD = "customer_id,start_date,end_date,plan,monthly_price\n"

DATA_CASES = [
    # (name, subscriptions.csv bytes, exit status, words the message must hold)
    ("header_only", SUBS_HEAD.encode(), 4, ["subscriptions.csv", "header but no rows"]),
    ("unbalanced_quote", (SUBS_HEAD + '001,2024-01-01,,"basic,10\n002,2024-01-01,,basic,10\n').encode(), 4,
     ["subscriptions.csv", "starts on line 2", "never closed"]),
    ("latin1_byte", (SUBS_HEAD + "001,2024-01-01,,basic,10\n002,2024-01-01,,b").encode() + b"\xe9sic,10\n", 4,
     ["subscriptions.csv, line 3", "0xe9 is not UTF-8"]),
    ("latin1_header", b"customer_id,start_date,end_date,pl\xe4n,monthly_price\n001,2024-01-01,,basic,10\n", 4,
     ["subscriptions.csv, line 1", "not UTF-8"]),
    ("empty_file", b"", 4, ["subscriptions.csv", "empty"]),
    ("random_bytes", bytes(range(256)) * 4, 4, ["subscriptions.csv"]),
    ("header_without_line_break", SUBS_HEAD.strip().encode(), 4, ["subscriptions.csv", "header but no rows"]),
    ("two_blank_headers", b"customer_id,,,start_date,end_date,plan,monthly_price\n001,a,b,2024-01-01,,basic,10\n", 4,
     ["subscriptions.csv", "(blank) in columns 2, 3"]),
    ("utf16", (SUBS_HEAD + "001,2024-01-01,,basic,10\n").encode("utf-16"), 4, ["subscriptions.csv", "UTF-16", "iconv -f utf-16"]),
    ("huge_field", (SUBS_HEAD + "001,2024-01-01,,basic,10\n002,2024-01-01,," + "x" * (40 << 20) + ",10\n").encode(), 4,
     ["subscriptions.csv", "line 3 is 41,943,"]),
]


@pytest.mark.parametrize(("name", "content", "status", "words"), DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_unreadable_subscriptions(tmp_path, name, content, status, words):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "subscriptions.csv").write_bytes(content)
    proc = run("validate", "--data", "data", cwd=tmp_path)
    assert proc.returncode == status, proc.stdout + proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


CONFIG_CASES = [
    ("directory", None, 3, ["is a directory"]),
    ("latin1", b"model:\n  seed: 1 # caf\xe9\n", 3, ["line 2", "0xe9 is not UTF-8"]),
    ("not_yaml", b"model: [\n", 3, ["not valid YAML"]),
    ("not_a_mapping", b"- 1\n- 2\n", 3, ["top level must be a mapping"]),
    ("unknown_key", b"model:\n  sed: 1\n", 3, ["model.sed"]),
    ("boolean_key", b"labels:\n  yes: 3\n", 3, ["labels: a key written true, yes or on is read by YAML as true", "quote it"]),
    ("wrong_type", b"model:\n  num_leaves: many\n", 3, ["model.num_leaves"]),
    ("out_of_range", b"validation:\n  max_reject_share: 2\n", 3, ["validation.max_reject_share"]),
    ("missing_key_env", b"signing:\n  key_env: CHURNML_NO_SUCH_VARIABLE\n", 3, ["CHURNML_NO_SUCH_VARIABLE is not set"]),
    ("missing_key_file", b"signing:\n  key_file: /nonexistent/key\n", 3, ["signing.key_file", "/nonexistent/key"]),
    # Extremes that reached LightGBM, pandas or MLflow and came back as exit 1 (found by an adversarial run).
    ("huge_seed", b"model:\n  seed: 1208925819614629174706176\n", 3, ["model.seed"]),
    ("bogus_frequency", b"snapshots:\n  frequency: XYZ\n", 3, ["snapshots.frequency", "offset alias"]),
    ("unknown_class_weight", b"model:\n  class_weight: heavy\n", 3, ["model.class_weight"]),
    ("huge_horizon", b"labels:\n  horizon_days: 1000000000000\n", 3, ["labels.horizon_days"]),
    ("huge_leaves", b"model:\n  num_leaves: 1000000000000\n", 3, ["model.num_leaves"]),
    ("huge_chunk", b"scoring:\n  chunk_customers: 1000000000000000000000000000000\n", 3, ["scoring.chunk_customers"]),
    ("infinite_l2", b"model:\n  lambda_l2: .inf\n", 3, ["model.lambda_l2"]),
    ("huge_window", b"features:\n  windows_days: [1000000000000]\n", 3, ["features.windows_days"]),
    # YAML's own leniencies: true read as 1, and a repeated key or section silently winning over the first.
    ("bool_for_a_number", b"scoring:\n  chunk_customers: true\n", 3, ["scoring.chunk_customers", "not true/false"]),
    ("bool_in_a_list", b"features:\n  windows_days: [30, yes]\n", 3, ["features.windows_days", "not true/false"]),
    ("repeated_section", b"scoring:\n  chunk_customers: 10\nmodel:\n  seed: 2\nscoring:\n  chunk_customers: 20\n", 3,
     ["line 5", "'scoring' on line 5 repeats the one on line 1"]),
    ("repeated_key", b"model:\n  seed: 1\n  seed: 2\n", 3, ["line 3", "'seed'"]),
    # Found by an adversarial run: a recursion error (exit 1), an alias bomb printed in full (a hang), and
    # infinities that passed every bound.
    ("nested_too_deep", b"x: " + b"[" * 500 + b"]" * 500 + b"\n", 3, ["nested too deeply"]),
    ("alias_bomb", b"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\nlabels: *i\n", 3, ["labels"]),
    ("infinite_wait", b"features:\n  long_wait_minutes: .inf\n", 3, ["features.long_wait_minutes", "finite"]),
    ("nan_success_rate", b"playbook:\n  value_rule:\n    success_rate:\n      retention_offer: .nan\n", 3, ["success_rate", "finite"]),
]


@pytest.mark.parametrize(("name", "content", "status", "words"), CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_hostile_configs(trained, tmp_path, name, content, status, words):
    cfg = tmp_path / "c.yaml"
    if content is None:
        cfg.mkdir()
    else:
        cfg.write_bytes(content)
    proc = run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--config", str(cfg),
               "--out", str(tmp_path / "s.csv"), cwd=trained)
    assert proc.returncode == status, proc.stdout + proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr
    assert "c.yaml" in proc.stderr
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("content", [b"a,b\n1,2\n", b"\xff\xfe\x00garbage", b""], ids=["other_csv", "bytes", "empty"])
def test_report_on_a_file_that_is_not_scores(tmp_path, content):
    (tmp_path / "x.csv").write_bytes(content)
    proc = run("report", "--scores", "x.csv", "--out", "rep", cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert "x.csv" in proc.stderr and "scores file" in proc.stderr
    assert not (tmp_path / "rep").exists()


def test_disk_full_is_status_9_and_keeps_the_old_pair(trained, tmp_path, monkeypatch, capsys):
    import churnml.cli
    from churnml import io

    out = tmp_path / "scores.csv"
    assert run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", str(out), cwd=trained).returncode == 0
    before = out.read_bytes(), io.manifest_path(out).read_bytes()

    def full(scores, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(io, "write_scores", full)
    monkeypatch.chdir(trained)
    monkeypatch.setattr(sys, "argv", ["churnml", "score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", str(out)])
    with pytest.raises(SystemExit) as info:
        churnml.cli.main()
    assert info.value.code == 9
    assert "No space left on device" in capsys.readouterr().err
    assert (out.read_bytes(), io.manifest_path(out).read_bytes()) == before
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize(("manifest", "says"), [("{not json", "not JSON"), ("[1, 2]", "not an object")], ids=["not_json", "a_list"])
def test_report_with_a_broken_manifest(trained, tmp_path, manifest, says):
    out = tmp_path / "scores.csv"
    assert run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", str(out), cwd=trained).returncode == 0
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "scores.csv").write_bytes(out.read_bytes())
    (copy / "scores.manifest.json").write_text(manifest)
    proc = run("report", "--scores", str(copy / "scores.csv"), "--out", str(tmp_path / "rep"), cwd=trained)
    assert proc.returncode == 4 and "scores.manifest.json" in proc.stderr and says in proc.stderr


def test_report_on_a_scores_file_without_rows(trained, tmp_path):
    out = tmp_path / "scores.csv"
    assert run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", str(out), cwd=trained).returncode == 0
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "scores.csv").write_text(out.read_text().splitlines()[0] + "\n")
    (copy / "scores.manifest.json").write_bytes(io_manifest(out))
    proc = run("report", "--scores", str(copy / "scores.csv"), "--out", str(tmp_path / "rep"), cwd=trained)
    assert proc.returncode == 4 and "no rows" in proc.stderr


def io_manifest(out):
    import json

    from churnml import io

    manifest = json.loads(io.manifest_path(out).read_text())
    manifest["output"].pop("sha256")
    return json.dumps(manifest).encode()


def test_train_into_a_model_dir_under_a_file_is_status_9(trained, tmp_path):
    (tmp_path / "afile").write_text("x")
    proc = run("train", "--data", "data", "--as-of", AS_OF, "--config", "fast.yaml", "--model-dir", str(tmp_path / "afile" / "m"), cwd=trained)
    assert proc.returncode == 9 and "afile" in proc.stderr, proc.stderr


def test_an_unusable_artifact_location_is_a_config_error(trained, tmp_path):
    cfg = tmp_path / "t.yaml"
    cfg.write_text(f"model:\n  max_rounds: 30\n  num_threads: 2\ntracking:\n  tracking_uri: sqlite:///{tmp_path}/m.db\n  artifact_location: /proc/nope\n")
    proc = run("train", "--data", "data", "--as-of", AS_OF, "--config", str(cfg), "--model-dir", str(tmp_path / "m"), cwd=trained)
    assert proc.returncode == 3 and "artifact_location" in proc.stderr and "t.yaml" in proc.stderr, proc.stderr
    assert (tmp_path / "m" / "latest" / "model.txt").is_file()  # the bundle itself was written


def test_one_problem_is_one_error_line(tmp_path):
    (tmp_path / "c.yaml").write_text("model:\n\tseed: 1\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "subscriptions.csv").write_text(SUBS_HEAD + "001,2024-01-01,,basic,10\n")
    proc = run("validate", "--data", "data", "--config", "c.yaml", cwd=tmp_path)
    assert proc.returncode == 3 and proc.stderr.count("churnml: error:") == 1, proc.stderr


def test_a_sub_daily_snapshot_frequency_is_a_config_error(tmp_path):
    (tmp_path / "c.yaml").write_text("snapshots:\n  frequency: ms\n")
    proc = run("train", "--data", "data", "--as-of", AS_OF, "--config", "c.yaml", cwd=tmp_path)
    assert proc.returncode == 3 and "snapshots.frequency" in proc.stderr and "shorter than a day" in proc.stderr, proc.stderr
