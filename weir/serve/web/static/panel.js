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
});
