// Copy and print buttons of the pages that show a secret once: backup codes (tokens/backup_codes.html,
// one code per list item) and a new API key (apikeys/secret.html, one element's text). Without
// scripts the buttons stay hidden and the codes, the download link and the browser's own print still work.
(function () {
  "use strict";

  function copyText(text, button) {
    var done = function () {
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = button.dataset.label; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(text, done); });
    } else {
      fallback(text, done);
    }
  }

  function fallback(text, done) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try {
      if (document.execCommand("copy")) { done(); }
    } finally {
      document.body.removeChild(area);
    }
  }

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    if (!source) { return; }
    button.dataset.label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      var items = source.querySelectorAll("li");
      var codes = items.length
        ? Array.prototype.map.call(items, function (li) { return li.textContent.trim(); })
        : [source.textContent.trim()];
      copyText(codes.join("\n"), button);
    });
  });

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
