// Registers the service worker (sw.js) and lets the user pin the entry in front of them.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" });
  const button = document.querySelector("button[data-pin]");
  if (button) {
    button.hidden = false;
    navigator.serviceWorker.addEventListener("message", (event) => {
      if (event.data.pinned === button.dataset.pin) button.textContent = "オフライン用に保存しました";
      if (event.data.failed === button.dataset.pin) button.textContent = "保存できませんでした";
    });
    button.addEventListener("click", async () => {
      const worker = (await navigator.serviceWorker.ready).active;
      worker.postMessage({ action: "pin", url: button.dataset.pin });
    });
  }
  if (document.body.dataset.signedOut !== undefined) {
    navigator.serviceWorker.ready.then((registration) => registration.active.postMessage({ action: "forget" }));
  }
}
