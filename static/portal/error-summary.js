// After a server-side error, move focus to the summary of what to fix, so it is what a screen reader reads first.
// A file of its own: the Content-Security-Policy allows no inline script.
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.querySelector("[data-focus-on-load]");
  if (summary) {
    summary.focus();
  }
});
