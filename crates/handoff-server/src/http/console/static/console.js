// The web console's one script (served by handoff at /admin/static/console.js, the only script
// the console's CSP allows). It only adds a "Copy" button beside every secret a page shows once
// (`<code data-copy>`): every page works without it.
'use strict';

for (const secret of document.querySelectorAll('code[data-copy]')) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'copy';
  button.textContent = 'Copy';
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(secret.textContent);
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Copy failed: select the text and copy it';
    }
  });
  secret.after(button);
}
