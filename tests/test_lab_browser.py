"""JupyterLab as a user meets it: `make lab`'s server and notebook 04 in headless Chromium.

The test starts the server `make lab` starts (tests/lab_server.py: ``python -m heritage_core.suite.lab`` on
127.0.0.1, a free port and a token), opens ``notebooks/04_dg_gap.ipynb`` from the project, checks that opening
and saving it change no byte, points it at the tiny finished suite of tests/eval_builders.py by inserting a
cell after its parameters (as papermill does), runs all cells, and changes each control of the per-class IoU
inspector in turn (fold, run, partition, head, class, examples), asserting that its view is redrawn for the
new selection. It never saves after that: autosave is off, so the tracked notebooks are unchanged at the end.
Screenshots go to the test's ``tmp_path/screenshots`` (printed). Every process it started (server, kernels,
chromedriver, chromium) is stopped and every tracked notebook it changed is restored, also when it fails.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and selenium (dev extras); it
skips, saying which is missing, elsewhere.
"""
from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab_server import LabServer, end_processes, processes_naming, running_lab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "notebooks/04_dg_gap.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Seconds allowed for JupyterLab to load, for Run All on the tiny suite, and for one redraw of the inspector.
LOAD_S, RUN_S, REDRAW_S = 90, 150, 30

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
                       reason=f"{CHROMIUM} or {CHROMEDRIVER} is missing: install Debian's chromium and chromium-driver "
                              f"(.ci/run does, as root)"),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is missing: pip install -e '.[dev]'")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402


def _snapshot() -> tuple[dict[str, bytes], str]:
    """Every file of notebooks/ with its bytes, and ``git status --porcelain notebooks/``."""
    files = {p.name: p.read_bytes() for p in sorted((ROOT / "notebooks").iterdir()) if p.is_file()}
    status = subprocess.run(["git", "status", "--porcelain", "notebooks/"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    return files, status


@contextlib.contextmanager
def _chromium(folder: Path) -> Iterator[webdriver.Chrome]:
    """Headless Chromium through chromedriver, with its profile and log under ``folder``."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1500,1100", "--no-first-run", "--disable-breakpad",
                     f"--user-data-dir={folder / 'profile'}"):
        options.add_argument(argument)
    folder.mkdir(parents=True, exist_ok=True)
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER), log_output=str(folder / "chromedriver.log"))
    driver = None
    try:
        driver = webdriver.Chrome(service=service, options=options)
        driver.set_script_timeout(30)
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        service.stop()
        end_processes(processes_naming(str(folder)))


def _wait(what: str, condition: Callable[[], object], timeout_s: float, log: Callable[[], str] = str) -> object:
    """Poll ``condition`` until it returns something true; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(StaleElementReferenceException):
            if result := condition():
                return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}\n{log()[-3000:]}")
        time.sleep(0.25)


def _kernel_idle(server: LabServer) -> bool:
    sessions = [s for s in server.api("api/sessions") if s["path"] == NOTEBOOK]
    return bool(sessions) and sessions[0]["kernel"]["execution_state"] == "idle"


class Inspector:
    """The inspector's widgets in the page: its controls by label, its output area and a redraw check."""

    def __init__(self, driver: webdriver.Chrome, shots: Path) -> None:
        self.driver, self.shots, self.redraws_s = driver, shots, {}

    def control(self, label: str) -> object:
        """The ``select`` or ``input`` of the control labelled ``label``."""
        box = self.driver.find_element(By.XPATH, f"//label[contains(@class,'widget-label') and text()='{label}']/..")
        return box.find_element(By.CSS_SELECTOR, "select, input")

    def output(self) -> str:
        """The HTML of the inspector's output area."""
        return self.driver.find_element(By.CSS_SELECTOR, ".widget-output").get_attribute("innerHTML")

    def caption(self) -> str:
        """The text of the view's caption (its first paragraph)."""
        return self.driver.find_element(By.CSS_SELECTOR, ".widget-output p").text

    def change(self, label: str, act: Callable[[object], None], expect: str) -> None:
        """Change one control, wait until the view is redrawn with ``expect`` in its caption, screenshot it."""
        before, start = self.output(), time.monotonic()
        act(self.control(label))

        def redrawn() -> bool:
            html = self.output()
            return html != before and html.count("<img") == 2 and expect in self.caption()

        _wait(f"the inspector to redraw after changing '{label}' (caption: {self.caption()!r})", redrawn, REDRAW_S)
        settled = ""
        while (html := self.output()) != settled:  # the table under the last figure may still be arriving
            settled = html
            time.sleep(0.5)
        self.redraws_s[label] = round(time.monotonic() - start, 1)
        self.driver.save_screenshot(str(self.shots / f"{len(self.redraws_s) + 2:02d}_{label}.png"))


def _other_option(select_element: object) -> str:
    """The text of the first option of a dropdown that is not selected."""
    select = Select(select_element)
    chosen = select.first_selected_option.text
    return next(o.text for o in select.options if o.text != chosen)


def _choose(text: str) -> Callable[[object], None]:
    """An action that picks the option ``text`` of a dropdown."""
    return lambda select_element: Select(select_element).select_by_visible_text(text)


def _open_notebook(driver: webdriver.Chrome, server: LabServer, shots: Path) -> None:
    driver.get(f"{server.url}/lab/tree/{NOTEBOOK}?token={server.token}")
    _wait("the notebook and its kernel", lambda: driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Cell")
          and _kernel_idle(server), LOAD_S, lambda: server.log)
    time.sleep(2)  # JupyterLab writes the kernel's metadata into the document once the kernel is connected
    driver.save_screenshot(str(shots / "01_opened.png"))
    assert "Jupyter news" not in driver.page_source  # no news question covering the page
    assert driver.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-KernelName").text == "Python 3"
    assert not driver.find_elements(By.CSS_SELECTOR, ".jp-mod-dirty"), "opening the notebook modified it"


def _save(driver: webdriver.Chrome, server: LabServer) -> None:
    """Ctrl-S on the open notebook, as a user would, and wait until jupytext wrote both files."""
    driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-MarkdownCell")[0].click()
    webdriver.ActionChains(driver).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()
    _wait("the save", lambda: "Saving 04_dg_gap.py" in server.log, 30, lambda: server.log)


def _run_all_on(driver: webdriver.Chrome, suite_dir: Path, output_dir: Path) -> None:
    """Insert a cell after the parameters that points the notebook at ``suite_dir``, then Run All Cells."""
    parameters = driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Cell")[1]
    parameters.find_element(By.CSS_SELECTOR, ".jp-InputPrompt").click()
    line = f'suite_dir = "{suite_dir}"; output_dir = "{output_dir}"; smoke = True'
    webdriver.ActionChains(driver).send_keys(Keys.ESCAPE, "b", Keys.ENTER).pause(0.5).send_keys(line, Keys.ESCAPE).perform()
    driver.find_element(By.XPATH, "//div[contains(@class,'lm-MenuBar-itemLabel') and text()='Run']").click()
    _wait("the Run menu", lambda: driver.find_elements(By.XPATH, "//li[contains(@class,'lm-Menu-item')]"
                                                      "[div[text()='Run All Cells']]"), 10)[0].click()


@pytest.mark.timeout(300)
def test_notebook_04_inspector_in_chromium(evaluated_tiny_suite, tmp_path: Path) -> None:
    suite, _ = evaluated_tiny_suite
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"screenshots: {shots}")
    files, status = _snapshot()
    checkpoint = ROOT / "notebooks" / ".ipynb_checkpoints" / "04_dg_gap-checkpoint.ipynb"
    had_checkpoint = checkpoint.exists()
    started = time.monotonic()
    try:
        with running_lab(tmp_path / "lab") as server, _chromium(tmp_path / "chromium") as driver:
            plugin = server.api("lab/api/settings/@jupyterlab/docmanager-extension:plugin")
            assert plugin["schema"]["properties"]["autosave"]["default"] is False
            _open_notebook(driver, server, shots)
            _save(driver, server)
            assert _snapshot() == (files, status), "saving the opened notebook changed notebooks/"

            _run_all_on(driver, suite.suite_dir, tmp_path / "dg")
            inspector = Inspector(driver, shots)
            _wait("the inspector after Run All", lambda: len(driver.find_elements(By.CSS_SELECTOR, ".widget-dropdown"))
                  == 5 and inspector.output().count("<img") == 2, RUN_S, lambda: server.log)
            _wait("the kernel to finish", lambda: _kernel_idle(server), RUN_S, lambda: server.log)
            prompts = [p.text for p in driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt")]
            assert prompts and all(p[1:-2].isdigit() for p in prompts), f"cells not all run: {prompts}"
            assert "Traceback" not in driver.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel").text
            driver.save_screenshot(str(shots / "02_run_all.png"))
            caption = inspector.caption()
            assert "(live: every control above redraws this view)" in caption and "static view" not in caption
            assert "all-Clean floor" in caption  # the floor beside the score
            assert driver.find_elements(By.CSS_SELECTOR, ".jp-mod-dirty")  # run, but not saved

            inspector.change("fold", _choose("photographic_depiction"), "photographic_depiction")
            run = _other_option(inspector.control("run"))
            inspector.change("run", _choose(run), run)
            inspector.change("partition", _choose("ood_test"), "ood_test")
            inspector.change("head", _choose("coarse"), "head coarse")
            name = _other_option(inspector.control("class"))
            inspector.change("class", _choose(name), f"class {name}")
            inspector.change("examples", lambda c: c.send_keys(Keys.CONTROL, "a", Keys.NULL, "3", Keys.TAB),
                             "3 best and worst images")
            print(f"seconds per redraw: {inspector.redraws_s}; {time.monotonic() - started:.0f} s with the server")
        assert processes_naming(str(tmp_path)) == []
        assert _snapshot() == (files, status), "opening and running notebook 04 changed notebooks/"
    finally:
        for name, data in files.items():  # a failed check must not leave a tracked notebook changed
            if (ROOT / "notebooks" / name).read_bytes() != data:
                (ROOT / "notebooks" / name).write_bytes(data)
        if checkpoint.exists() and not had_checkpoint:
            checkpoint.unlink()  # JupyterLab writes one when it opens a notebook (git-ignored)
            with contextlib.suppress(OSError):
                checkpoint.parent.rmdir()
