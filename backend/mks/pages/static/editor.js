// The entry form: its text kept in this browser while it is written, so a reload or a lost
// connection on site loses nothing (the copy is dropped once the form is sent); a live preview
// rendered by the server, as the entry page will show it; and tags offered as they are typed.
const form = document.querySelector("form[data-draft-key]");
if (form) {
  const key = `mks-draft:${form.dataset.draftKey}`;
  const fields = [...form.querySelectorAll("[data-keep]")];
  const kept = JSON.parse(localStorage.getItem(key) || "null");
  if (kept && kept.version === form.dataset.version) {
    for (const field of fields) {
      if (field.name in kept.values) field.value = kept.values[field.name];
    }
    document.getElementById("draft-restored").hidden = false;
  }
  form.addEventListener("input", () => {
    const values = Object.fromEntries(fields.map((field) => [field.name, field.value]));
    localStorage.setItem(key, JSON.stringify({ version: form.dataset.version, values }));
  });
  form.addEventListener("submit", () => localStorage.removeItem(key));

  const content = form.elements.namedItem("content");
  const preview = document.getElementById("preview");
  let waiting = null;
  let sent = 0;
  const render = async () => {
    const body = new FormData();
    body.set("csrf_token", form.elements.namedItem("csrf_token").value);
    body.set("content", content.value);
    const number = ++sent;
    try {
      const response = await fetch(preview.dataset.url, { method: "POST", body, credentials: "same-origin" });
      // An older answer arriving late must not replace a newer one.
      if (response.ok && number === sent) preview.innerHTML = await response.text();
    } catch {
      // Offline: the preview waits for the connection; the text itself is kept above.
    }
  };
  content.addEventListener("input", () => {
    clearTimeout(waiting);
    waiting = setTimeout(render, 300);
  });
  if (kept && kept.version === form.dataset.version) render();

  // A datalist offers whole values: each suggestion is the tags typed so far with the last one completed.
  const tags = form.elements.namedItem("tags");
  const list = document.getElementById("tag-suggestions");
  const known = [...list.options].map((option) => option.value);
  tags.addEventListener("input", () => {
    const typed = tags.value.split(/[\s,、，]+/);
    const last = typed.pop();
    const before = typed.filter(Boolean);
    const prefix = before.length ? `${before.join(" ")} ` : "";
    const offered = last ? known.filter((tag) => tag.startsWith(last) && !before.includes(tag)).slice(0, 20) : [];
    list.replaceChildren(...offered.map((tag) => new Option("", `${prefix}${tag}`)));
  });
}
