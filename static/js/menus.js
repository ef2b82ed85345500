// Menus made of <details data-menu> (the user menu, the narrow-screen navigation, a row's actions)
// work without scripts. With this one they also close as menus do elsewhere: on Escape (focus goes
// back to the menu's button), on a click outside, when focus leaves them, and when another opens.
(function () {
  "use strict";

  function closeOthers(keep) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (menu !== keep && !menu.contains(keep)) { menu.open = false; }
    });
  }

  document.addEventListener("click", function (event) {
    closeOthers(event.target.closest("details[data-menu]"));
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !event.target.closest) { return; }
    var menu = event.target.closest("details[data-menu][open]");
    if (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });

  document.addEventListener("focusout", function (event) {
    var menu = event.target.closest && event.target.closest("details[data-menu][open]");
    if (menu && event.relatedTarget && !menu.contains(event.relatedTarget)) { menu.open = false; }
  });

  document.addEventListener("toggle", function (event) {
    var menu = event.target;
    if (menu.matches && menu.matches("details[data-menu]") && menu.open) { closeOthers(menu); }
  }, true);
})();
