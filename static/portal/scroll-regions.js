// A table wider than the window scrolls inside its card (portal.css, narrow screens): such a table takes
// keyboard focus, so that someone without a mouse can scroll it too. Checked again after a resize and
// after htmx swaps in new rows.
const markScrollingTables = () => {
  for (const table of document.querySelectorAll("main table")) {
    if (table.scrollWidth > table.clientWidth) {
      table.tabIndex = 0;
    } else {
      table.removeAttribute("tabindex");
    }
  }
};
document.addEventListener("DOMContentLoaded", markScrollingTables);
window.addEventListener("resize", markScrollingTables);
document.addEventListener("htmx:afterSettle", markScrollingTables);
