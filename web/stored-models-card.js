// The "Models kept in this browser" card of the chat page: what the Cache API holds per model
// folder, how big, a Delete for each, the origin's usage and quota, and a button that asks the
// browser to keep the files when space runs low (navigator.storage.persist()).
import { deleteStoredModel, listStoredModels, persistStorage, storageState } from '../js/browser/stored-models.js';
import { formatBytes, modelLabel } from '../js/ui/stats-text.js';

const $ = (id) => /** @type {any} */ (document.getElementById(id));

/** @param {{loadedSource: () => string|null}} page */
export function storedModelsCard(page) {
  const list = $('stored-list'), usage = $('stored-usage'), persist = $('persist');

  async function render() {
    const models = await listStoredModels().catch(() => []);
    const loaded = page.loadedSource();
    list.replaceChildren(...models.map((m) => {
      const li = document.createElement('li');
      li.dataset.folder = m.folder;
      const about = document.createElement('div');
      const name = document.createElement('b');
      name.textContent = modelLabel({ source: m.folder });
      name.title = m.folder;
      const size = document.createElement('small');
      size.textContent = `${formatBytes(m.bytes)} · ${m.files} file${m.files === 1 ? '' : 's'}${m.folder === loaded ? ' · loaded' : ''}`;
      about.append(name, size);
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'act';
      del.textContent = 'Delete';
      del.setAttribute('aria-label', `Delete the stored files of ${name.textContent}`);
      li.append(about, del);
      return li;
    }));
    if (models.length === 0) {
      const li = document.createElement('li');
      li.className = 'muted';
      li.textContent = 'None yet: a model is kept after its first download.';
      list.replaceChildren(li);
    }
    const s = await storageState();
    const parts = [];
    if (s.usage != null) parts.push(`This site uses ${formatBytes(s.usage)}${s.quota ? ` of the ${formatBytes(s.quota)} it may use` : ''}.`);
    if (s.persisted === true) parts.push('The browser keeps these files even when space runs low.');
    else if (s.persisted === false) parts.push('The browser may delete them when space runs low.');
    usage.textContent = parts.join(' ');
    persist.hidden = s.persisted !== false;
  }

  list.addEventListener('click', async (event) => {
    const button = /** @type {HTMLElement} */ (event.target).closest('button');
    const folder = button?.closest('li')?.dataset.folder;
    if (!button || !folder) return;
    button.disabled = true;
    await deleteStoredModel(folder).catch((err) => console.warn('PLDR-LLM: not deleted:', err));
    await render();
  });
  persist.addEventListener('click', async () => {
    const granted = await persistStorage();
    await render();
    if (!granted) usage.textContent += ' The browser did not grant it now (it decides from how the site is used; bookmarking it helps).';
  });
  return { render };
}
