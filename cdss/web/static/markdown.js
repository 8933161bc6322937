/* A tiny, safe markdown subset rendered as DOM nodes: paragraphs, **bold**, *italic*, `code` and
   [text](https://...) links. Never innerHTML: every piece of input becomes a text node, so no HTML
   from any input (rule text, patient data echoed back) can reach the page as markup. */
(function () {
  "use strict";
  const INLINE = /\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|`([^`]+)`|\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g;

  function element(tag, text) {
    const node = document.createElement(tag);
    node.textContent = text;
    return node;
  }

  function link(text, href) {
    const anchor = element("a", text);
    anchor.href = href;  // only http(s): the pattern above admits nothing else (no javascript: URLs)
    anchor.rel = "noopener noreferrer";
    anchor.target = "_blank";
    return anchor;
  }

  function inline(parent, text) {
    let last = 0;
    for (const match of text.matchAll(INLINE)) {
      parent.append(document.createTextNode(text.slice(last, match.index)));
      if (match[1] !== undefined) parent.append(element("strong", match[1]));
      else if (match[2] !== undefined) parent.append(element("em", match[2]));
      else if (match[3] !== undefined) parent.append(element("code", match[3]));
      else parent.append(link(match[4], match[5]));
      last = match.index + match[0].length;
    }
    parent.append(document.createTextNode(text.slice(last)));
  }

  function render(text) {
    const fragment = document.createDocumentFragment();
    for (const block of String(text).split(/\n\s*\n/)) {
      if (!block.trim()) continue;
      const paragraph = document.createElement("p");
      inline(paragraph, block.trim());
      fragment.append(paragraph);
    }
    return fragment;
  }

  window.SafeMarkdown = { render: render, link: link };
})();
