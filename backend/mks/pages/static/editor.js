// Keeps the entry form's text in this browser while it is written, so a reload or a lost
// connection on site loses nothing; the copy is dropped once the form is sent.
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
}
