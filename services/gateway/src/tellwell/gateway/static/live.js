// Live feed: new and changed stories arrive over Server-Sent Events and are inserted at the top.
// The page works without this script; the server renders each card (escaped), so no story text
// is ever turned into markup here.
(function () {
  "use strict";
  var feed = document.getElementById("feed");
  if (!feed || feed.dataset.live !== "on" || !window.EventSource) return;
  var status = document.getElementById("live-status");
  var query = feed.dataset.query || "";
  var source = new EventSource("/v1/stream");

  function cardOf(id) {
    var cards = feed.querySelectorAll("[data-story-id]");
    for (var i = 0; i < cards.length; i++) if (cards[i].dataset.storyId === id) return cards[i];
    return null;
  }

  source.addEventListener("story", function (event) {
    var story;
    try { story = JSON.parse(event.data); } catch (e) { return; }
    var old = cardOf(story.id);
    if (story.merged_into) { if (old) old.remove(); return; }
    var url = "/stories/" + encodeURIComponent(story.id) + "/card" + (query ? "?" + query : "");
    fetch(url, { headers: { Accept: "text/html" } }).then(function (response) {
      if (response.status !== 200) return null;
      return response.text();
    }).then(function (html) {
      if (!html) return;
      var template = document.createElement("template");
      template.innerHTML = html.trim();
      var node = template.content.firstElementChild;
      if (!node) return;
      node.classList.add("fresh");
      var current = cardOf(story.id);
      if (current) current.remove();
      var empty = feed.querySelector(".empty");
      if (empty) empty.remove();
      feed.insertBefore(node, feed.firstChild);
      var title = node.querySelector("h2");
      if (status && title) status.textContent = "New: " + title.textContent;
    }).catch(function () { /* the next event or a reload will catch up */ });
  });
})();
