// Passkeys (WebAuthn): the browser's prompt for the portal's enrolment and login pages.
// The server hands the options over as JSON (a data block, not code: CSP allows no inline script),
// with binary values in base64url; this converts them, calls navigator.credentials, and posts the
// browser's answer back in a hidden field of the page's form. The server checks everything.
(function () {
  "use strict";

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    base64 += "====".slice(0, (4 - (base64.length % 4)) % 4);
    var binary = window.atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return window.btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function readOptions(id) {
    var source = document.getElementById(id);
    var options = JSON.parse(JSON.parse(source.textContent));  // json_script of the JSON text
    options.challenge = toBytes(options.challenge);
    if (options.user) { options.user.id = toBytes(options.user.id); }
    ["excludeCredentials", "allowCredentials"].forEach(function (key) {
      (options[key] || []).forEach(function (descriptor) { descriptor.id = toBytes(descriptor.id); });
    });
    return options;
  }

  function common(credential) {
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {}
    };
  }

  function created(credential) {
    var answer = common(credential);
    answer.response = {
      clientDataJSON: toText(credential.response.clientDataJSON),
      attestationObject: toText(credential.response.attestationObject),
      transports: credential.response.getTransports ? credential.response.getTransports() : []
    };
    return answer;
  }

  function asserted(credential) {
    var answer = common(credential);
    answer.response = {
      clientDataJSON: toText(credential.response.clientDataJSON),
      authenticatorData: toText(credential.response.authenticatorData),
      signature: toText(credential.response.signature),
      userHandle: toText(credential.response.userHandle)
    };
    return answer;
  }

  function say(form, text) {
    var box = form.querySelector("[data-passkey-message]");
    if (!box) {
      box = document.createElement("div");
      box.className = "form-errors";
      box.setAttribute("role", "alert");
      box.setAttribute("data-passkey-message", "");
      form.insertBefore(box, form.firstChild);
    }
    box.textContent = text;
  }

  function failed(form, error) {
    var cancelled = error && error.name === "NotAllowedError";
    say(form, cancelled
      ? "The passkey prompt was cancelled or timed out. Try again."
      : "The browser could not use a passkey here (" + (error && error.name ? error.name : "error") + ").");
  }

  var supported = Boolean(window.PublicKeyCredential && navigator.credentials);

  function wire(form, ceremony, field, pack) {
    var button = form.querySelector("[data-passkey-button]");
    var note = form.querySelector("[data-passkey-unsupported]");
    if (!supported || !button) { return; }
    if (note) { note.hidden = true; }
    button.hidden = false;
    form.addEventListener("submit", function (event) {
      var input = form.querySelector("input[name='" + field + "']");
      if (input.value) { return; }  // the answer is in: post it
      var name = form.querySelector("input[name='description']");
      if (name && !name.value.trim()) { return; }  // the server asks for the name first
      event.preventDefault();
      button.disabled = true;
      var options = readOptions(form.getAttribute(ceremony));
      var call = ceremony === "data-passkey-create"
        ? navigator.credentials.create({ publicKey: options })
        : navigator.credentials.get({ publicKey: options });
      call.then(function (credential) {
        input.value = JSON.stringify(pack(credential));
        form.submit();
      }, function (error) {
        button.disabled = false;
        failed(form, error);
      });
    });
  }

  document.querySelectorAll("form[data-passkey-create]").forEach(function (form) {
    wire(form, "data-passkey-create", "credential", created);
  });
  document.querySelectorAll("form[data-passkey-get]").forEach(function (form) {
    wire(form, "data-passkey-get", "passkey", asserted);
  });
})();
