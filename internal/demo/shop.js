// The shop's "Kill this target" button: it kills the serving target through
// the demo control API, then loads the shop again, which the load balancer
// now serves from another target. It is a file rather than an inline script
// so that the page's Content-Security-Policy allows no inline script.
(() => {
  const form = document.getElementById("kill");
  const status = document.getElementById("status");
  if (!form) return;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const id = form.dataset.target;
    fetch(form.action, {method: "POST", credentials: "same-origin"})
      .then((r) => { if (!r.ok) throw new Error(r.status + " " + r.statusText); })
      .then(() => { location.assign("/shop?killed=" + encodeURIComponent(id)); })
      .catch((err) => { status.textContent = "Kill failed: " + err.message; });
  });
})();
