// Copy buttons: <button data-copy="#element-id" hidden>. Without script the button stays hidden and the
// text stays selectable; with it, one click copies the element's text and says so.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.querySelector(button.dataset.copy);
    const status = document.getElementById(button.getAttribute("aria-controls") + "-status");
    if (!source || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.textContent);
        if (status) status.textContent = "Copied.";
      } catch {
        if (status) status.textContent = "The browser refused to copy: select the text and copy it.";
      }
    });
  }
});
