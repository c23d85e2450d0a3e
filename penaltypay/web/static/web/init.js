// Progressive enhancement only: every page works without JavaScript.
import { initAll } from "../govuk/govuk-frontend.min.js";

initAll();

// The language switch is a link. On a page with a form, it carries what the keeper has
// typed but not sent: the form is sent to the link's address with `switch_language`, and
// the page comes back in the other language with the fields as they were. (Without
// JavaScript the link still works; what was last sent is shown again.)
for (const link of document.querySelectorAll(".app-language-switch a[data-carry-form]")) {
  link.addEventListener("click", (event) => {
    const form = document.getElementById(link.dataset.carryForm);
    if (!form) return;
    event.preventDefault();
    const marker = document.createElement("input");
    marker.type = "hidden";
    marker.name = "switch_language";
    marker.value = link.hreflang;
    form.append(marker);
    form.action = link.href;
    form.submit();
  });
}
