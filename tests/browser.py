"""Open an HTML page in a real headless browser (Chromium, as Qt WebEngine embeds it), wait
until it has loaded, and report what it rendered: a screenshot and, from the page's own DOM,
every image's decoded size and place, the title and the visible text. The screenshot is of the
whole page (the view made as tall as the page).

    python tests/browser.py PAGE.html SHOT.png   -> one JSON line on stdout

Run in its own process (Qt wants the main thread and its own event loop). Headless: the
`offscreen` platform, no GPU, no sandbox (containers run as root), no network needed.
"""
import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox --disable-gpu --disable-dev-shm-usage")
os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

from PyQt6.QtCore import QSize, QTimer, QUrl  # noqa: E402
from PyQt6.QtWebEngineWidgets import QWebEngineView  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

# The page's own account of itself, read after it loaded.
PROBE = """JSON.stringify({
  title: document.title,
  text: document.body.innerText,
  images: Array.from(document.images).map(i => {
    const r = i.getBoundingClientRect();
    return {alt: i.alt, width: i.naturalWidth, height: i.naturalHeight, complete: i.complete,
            box: [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height]};
  }),
  height: document.documentElement.scrollHeight
})"""


def main(page: str, shot: str) -> int:
    app = QApplication([sys.argv[0]])
    view = QWebEngineView()
    view.resize(QSize(1200, 900))
    result = {"loaded": False}

    def report(probe: str) -> None:
        result.update(json.loads(probe))
        # the whole page in one screenshot: the view made as tall as the page, then drawn
        view.resize(QSize(1200, min(int(result["height"]), 20_000)))
        QTimer.singleShot(500, lambda: (view.grab().save(shot), app.quit()))

    def loaded(ok: bool) -> None:
        result["loaded"] = ok
        # a moment for layout and image decoding after the load event
        QTimer.singleShot(300, lambda: view.page().runJavaScript(PROBE, report))

    view.loadFinished.connect(loaded)
    view.load(QUrl.fromLocalFile(os.path.abspath(page)))
    view.show()
    QTimer.singleShot(60_000, app.quit)  # never hang a test run
    app.exec()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))
