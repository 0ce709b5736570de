/*
 * The rule editor's check as you type (templates/regels_bestand.html, admins only).
 *
 * On every edit of the textarea #tekst, after a pause of DELAY ms, the text is POSTed with the form's CSRF
 * token to the textarea's data-controle address (POST /regels/<file>/controleer.json), which runs exactly
 * the check of the "Controleren" button (the one of `connector mappings check`) and answers
 * {"ok": bool, "problems": [{"file", "line", "text"}]}. The answer is shown in #controle beside the editor
 * ("Geldig", or each problem as file:line), and the lines with a problem are marked in a column of line
 * numbers next to the textarea.
 *
 * At most one request is in flight: a newer edit aborts the older request, and an answer that is not for
 * the newest edit is ignored. Text from the server is only ever put in the page with textContent (never
 * parsed as markup, never evaluated), so the strict Content-Security-Policy (script-src 'self') holds. Without
 * JavaScript the form's buttons (Controleren, Proefdraaien, Opslaan) work as before.
 */
(function () {
  "use strict";

  var DELAY = 400;
  var area = document.getElementById("tekst");
  var panel = document.getElementById("controle");
  if (!area || !panel || !area.form || !area.dataset.controle || !window.fetch) {
    return;
  }
  var form = area.form;
  var file = area.dataset.bestand;
  var maxBytes = parseInt(area.dataset.max, 10) || 1048576;
  var editor = area.parentNode;
  var gutter = editor.querySelector(".regelnummers");
  var timer = null;
  var inFlight = null;    // the AbortController of the request in flight, or null
  var newest = 0;         // the number of the newest check asked for
  var badLines = {};      // line number -> problem texts, for this file

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  /* The line-number column: one row per line of the textarea, the lines with a problem marked. */
  function renumber() {
    if (!gutter) {
      return;
    }
    var count = area.value.split("\n").length;
    while (gutter.childNodes.length > count) {
      gutter.removeChild(gutter.lastChild);
    }
    while (gutter.childNodes.length < count) {
      gutter.appendChild(element("div", "", String(gutter.childNodes.length + 1)));
    }
    for (var i = 0; i < count; i++) {
      var row = gutter.childNodes[i];
      var problems = badLines[i + 1];
      row.className = problems ? "fout" : "";
      row.title = problems ? problems.join("\n") : "";
    }
    gutter.scrollTop = area.scrollTop;
  }

  /* Put the caret on line `line` of the textarea, the line selected and scrolled into view. */
  function goToLine(line) {
    var lines = area.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) {
      start += lines[i].length + 1;
    }
    var end = start + (lines[line - 1] || "").length;
    area.focus();
    area.setSelectionRange(start, end);
    var height = parseFloat(window.getComputedStyle(area).lineHeight) || 18;
    area.scrollTop = Math.max(0, (line - 3) * height);
    gutter.scrollTop = area.scrollTop;
  }

  /* While a check is due, the last answer stays visible, marked as busy (no flicker while typing). */
  function busy(on) {
    panel.classList.toggle("bezig", on);
    panel.setAttribute("aria-busy", on ? "true" : "false");
  }

  function status(className, text) {
    busy(false);
    clear(panel);
    panel.appendChild(element("p", className, text));
  }

  function show(answer) {
    badLines = {};
    busy(false);
    clear(panel);
    if (answer.ok) {
      panel.appendChild(element("p", "geldig", "Geldig"));
      renumber();
      return;
    }
    var problems = answer.problems || [];
    panel.appendChild(element("p", "ongeldig", problems.length === 1 ? "1 probleem" : problems.length + " problemen"));
    var list = element("ul", "problemen");
    problems.forEach(function (problem) {
      var item = element("li", "fouttekst");
      var where = problem.file + ":" + problem.line;
      if (problem.file === file) {
        (badLines[problem.line] = badLines[problem.line] || []).push(problem.text);
        var jump = element("button", "naar-regel", where);
        jump.type = "button";
        jump.title = "Naar regel " + problem.line;
        jump.addEventListener("click", function () { goToLine(problem.line); });
        item.appendChild(jump);
      } else {
        item.appendChild(element("span", "plaats", where));
      }
      item.appendChild(document.createTextNode(": " + problem.text));
      list.appendChild(item);
    });
    panel.appendChild(list);
    renumber();
  }

  function failed(response) {
    if (response.status === 413) {
      return "De tekst is te groot om te controleren.";
    }
    if (response.status === 403) {
      return "Uw rol mag de regels niet wijzigen.";
    }
    if (response.status === 400) {
      return "De controle werd geweigerd: uw sessie of dit formulier is verlopen. Laad de pagina opnieuw.";
    }
    return "De controle is niet gelukt (HTTP " + response.status + "). Gebruik de knop Controleren.";
  }

  function check() {
    timer = null;
    newest += 1;
    var mine = newest;
    if (inFlight) {
      inFlight.abort();  // an older edit: its answer is no longer wanted
    }
    if (new TextEncoder().encode(area.value).length > maxBytes) {
      inFlight = null;
      status("fouttekst", "De tekst is te groot om te controleren.");
      return;
    }
    var controller = new AbortController();
    inFlight = controller;
    var body = new URLSearchParams();
    body.append("csrf_token", form.elements.csrf_token.value);
    body.append("tekst", area.value);
    fetch(area.dataset.controle, {
      method: "POST", body: body, credentials: "same-origin", redirect: "error",
      headers: {"Accept": "application/json"}, signal: controller.signal
    }).then(function (response) {
      var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
      if (!response.ok || !json) {
        throw new Error(failed(response));
      }
      return response.json();
    }).then(function (answer) {
      if (mine === newest) {
        show(answer);
      }
    }).catch(function (error) {
      if (error.name === "AbortError" || mine !== newest) {
        return;
      }
      var text = error.message;
      if (error instanceof TypeError) {  // no network, or sent to /login: the session ended
        text = "De controle is niet gelukt; bent u nog aangemeld? Laad de pagina opnieuw.";
      }
      status("fouttekst", text);
    }).finally(function () {
      if (inFlight === controller) {
        inFlight = null;
      }
    });
  }

  function edited() {
    renumber();
    if (timer !== null) {
      window.clearTimeout(timer);
    }
    if (!panel.firstChild) {
      panel.appendChild(element("p", "", "Controleren\u2026"));
    }
    busy(true);
    timer = window.setTimeout(check, DELAY);
  }

  editor.classList.add("genummerd");
  area.addEventListener("input", edited);
  area.addEventListener("scroll", function () {
    if (gutter) {
      gutter.scrollTop = area.scrollTop;
    }
  });
  renumber();
  panel.appendChild(element("p", "", "Controleren\u2026"));
  busy(true);
  check();  // the state of the text as the page shows it
}());
