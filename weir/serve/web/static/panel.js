/* The control panel, catalog, quality and SQL pages: small behaviours, no inline script
   (the Content-Security-Policy allows only files served by weir). */
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // the SQL console: Ctrl+Enter (⌘+Enter) runs the query
  const editor = document.getElementById("sql");
  if (editor) {
    editor.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        editor.form.requestSubmit(document.getElementById("run"));
      }
    });
  }
  // the runs list: while a run on it is queued or running, its rows refresh quietly
  // (the forms below it keep what is being typed)
  const live = document.querySelector("[data-live-runs]");
  if (live) {
    const refresh = async () => {
      const answer = await fetch(window.location.href, { credentials: "same-origin" });
      if (!answer.ok) return;
      const page = new DOMParser().parseFromString(await answer.text(), "text/html");
      const fresh = page.querySelector("[data-live-runs]");
      if (fresh) live.replaceChildren(...fresh.childNodes);
      const summary = page.querySelector("#run-counts");
      if (summary) document.getElementById("run-counts").replaceChildren(...summary.childNodes);
      if (fresh && fresh.dataset.liveRuns === "true") window.setTimeout(refresh, 3000);
    };
    if (live.dataset.liveRuns === "true") window.setTimeout(refresh, 3000);
  }
  // a button with data-copy copies the text of the element it names (a proposed contract);
  // the page may have been swapped in by htmx after this ran: listen on the document
  document.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-copy]") : null;
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    const said = document.getElementById("copied");
    if (!source) return;
    const text = source.textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // no clipboard (a page served over plain http): select the text for Ctrl+C
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      if (said) said.textContent = "Selected: press Ctrl+C to copy";
      return;
    }
    if (said) said.textContent = "Copied";
  });
});
