"""The evaluation report: one page per results document, every figure from the document, names escaped,
interrupted runs and errored episodes shown as such."""

from physai.evaluate.results import build_results, validate_results
from physai.report.eval_report import write_report


def _doc(partial: bool) -> dict:
    task = "suite/<b>odd</b>"
    recs = [
        {"task": task, "index": i, "seed": 100 + i, "status": "ok", "success": i % 2 == 0, "length": 10 + i,
         "duration_s": 0.5, "instruction": "x", "attempts": 1, "worker": "w0", "error": None}
        for i in range(3)
    ]
    recs.append({"task": task, "index": 3, "seed": 103, "status": "error", "success": False, "length": 0,
                 "duration_s": 0.0, "instruction": "x", "attempts": 2, "worker": "w0",
                 "error": "RuntimeError: <boom>"})
    config = {"episodes": 4, "workers": 1, "backend": "local"}
    return build_results(policy={"spec": "expert"}, config=config, seeds={"base": 0}, tasks=[task],
                         records=recs, partial=partial, videos=[], wall_s=2.0)


def test_report_shows_the_documents_figures_escaped(tmp_path):
    doc = _doc(partial=False)
    validate_results(doc)
    page = write_report(doc, tmp_path).read_text()
    assert "<b>odd</b>" not in page and "&lt;b&gt;odd&lt;/b&gt;" in page  # names never become markup
    r = doc["tasks"]["suite/<b>odd</b>"]
    assert r["successes"] == 2 and r["errors"] == 1
    assert f"{r['success_rate']:.1%}" in page and "2/4" in page
    assert "Errored episodes" in page and "&lt;boom&gt;" in page and "2 attempts" in page
    assert "Partial results" not in page
    assert page.count("data:image/png;base64,") == 2  # both plots embedded, no side files


def test_an_interrupted_run_is_labelled_partial(tmp_path):
    page = write_report(_doc(partial=True), tmp_path).read_text()
    assert "Partial results" in page and "4 episodes were completed" in page
