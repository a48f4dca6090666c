// Progressive extras of the pages; everything works without them.
// Live counts of the group page, and copying magnet links. No inline script anywhere
// (the Content-Security-Policy allows scripts from /static only).
"use strict";

function liveCounts() {
  const table = document.querySelector("table[data-live-url]");
  if (!table) return;
  const url = table.dataset.liveUrl;
  const every = Number(table.dataset.liveEvery) || 3000;
  const names = ["seeders", "leechers", "completed"];
  async function refresh() {
    try {
      const answer = await fetch(url, { headers: { Accept: "application/json" } });
      if (answer.ok) {
        const counts = await answer.json();
        for (const row of table.querySelectorAll("tr[data-ih]")) {
          const values = counts[row.dataset.ih];
          if (!values) continue;
          names.forEach((name, i) => {
            const cell = row.querySelector('[data-count="' + name + '"]');
            if (cell && cell.textContent !== String(values[i])) cell.textContent = String(values[i]);
          });
        }
      }
    } catch (error) {
      // The tracker restarting, the network gone: the next round tries again.
    }
    setTimeout(refresh, every);
  }
  setTimeout(refresh, every);
}

function say(text) {
  const status = document.getElementById("copied");
  if (status) status.textContent = text;
}

function copyButtons() {
  // The group page: fetch the magnet link (it holds the passkey, so it is not in the page).
  for (const link of document.querySelectorAll("a[data-magnet]")) {
    link.addEventListener("click", async (event) => {
      if (!navigator.clipboard) return; // follow the link: a page to copy it from
      event.preventDefault();
      try {
        const answer = await fetch(link.href, { headers: { Accept: "application/json" } });
        if (!answer.ok) throw new Error(String(answer.status));
        await navigator.clipboard.writeText((await answer.json()).magnet);
        say("Magnet link copied.");
      } catch (error) {
        window.location.href = link.href;
      }
    });
  }
  // The magnet page: a button beside the text.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      await navigator.clipboard.writeText(source.value);
      say("Copied.");
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  liveCounts();
  copyButtons();
});
