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
  // a form whose button says data-confirm asks first (cancel a run, replay a quarantine)
  for (const button of document.querySelectorAll("button[data-confirm]")) {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.dataset.confirm)) event.preventDefault();
    });
  }
});
