// Photos and videos of items: an <img> or <video> from /api/blobs/<id>, with a progress
// placeholder while the blob's chunks are still arriving.

import { blobs } from './blobs.js';
import { el, isHex } from './dom.js';

/** The item's media reference `{id, mime, size}`, or null. */
export function mediaOf(item) {
  const media = item && item.fields && item.fields.media;
  if (!media || !isHex(media.id)) return null;
  return { id: media.id.toLowerCase(), mime: typeof media.mime === 'string' ? media.mime : '', size: Number(media.size) || 0 };
}

export function isVideo(item) {
  const media = mediaOf(item);
  if (media) return media.mime.startsWith('video/');
  return item && item.kind === 'video';
}

/**
 * Makes the element for an item's media.
 * mode: 'thumb' (panel) or 'stage' (the large view: videos get controls).
 * onSize(width, height) is called once the natural size is known.
 * Returns {node, media (img|video), destroy()}.
 */
export function mediaView(item, { mode = 'thumb', onSize = () => {} } = {}) {
  const media = mediaOf(item);
  const video = isVideo(item);
  const title = (item.fields && typeof item.fields.title === 'string' && item.fields.title) || (video ? 'video' : 'photo');
  const element = video
    ? el('video', { preload: 'metadata', playsinline: true, muted: mode === 'thumb', controls: mode === 'stage', 'aria-label': title })
    : el('img', { alt: title, draggable: 'false', decoding: 'async' });
  if (video && mode === 'thumb') element.muted = true;
  const label = el('span', { class: 'wait-text', text: 'Looking for it…' });
  const bar = el('progress', { max: '100' });
  const wait = el('div', { class: 'media-wait' }, label, bar);
  const node = el('div', { class: `media ${video ? 'is-video' : 'is-image'}`, dataset: { state: 'unknown' } }, element, wait);
  if (video && mode === 'thumb') node.append(el('span', { class: 'play-badge', text: '▶' }));

  let loadedSource = false;
  const onLoaded = () => {
    node.dataset.state = 'loaded';
    const width = video ? element.videoWidth : element.naturalWidth;
    const height = video ? element.videoHeight : element.naturalHeight;
    if (width > 0 && height > 0) onSize(width, height);
  };
  element.addEventListener(video ? 'loadedmetadata' : 'load', onLoaded);
  element.addEventListener('error', () => {
    if (!loadedSource) return;
    node.dataset.state = 'failed';
    label.textContent = video ? 'This video cannot be played here.' : 'This photo cannot be shown.';
    bar.hidden = true;
  });

  let stop = () => {};
  if (!media) {
    node.dataset.state = 'failed';
    label.textContent = 'No picture';
    bar.hidden = true;
  } else {
    stop = blobs.watch(media.id, (info) => {
      // A video plays while it arrives: the node answers the ranges it asks for as they come.
      if (info.state === 'ready' || (video && info.state === 'arriving' && info.have > 0)) {
        if (!loadedSource) {
          loadedSource = true;
          node.dataset.state = 'loading';
          // For a thumbnail, `#t=0.1` makes browsers show a frame instead of black.
          element.src = blobs.url(media.id) + (video && mode === 'thumb' ? '#t=0.1' : '');
        }
        return;
      }
      if (loadedSource) return;
      node.dataset.state = info.state;
      bar.hidden = false;
      if (info.state === 'arriving') {
        const percent = Number.isFinite(info.percent) ? Math.max(0, Math.min(100, info.percent)) : null;
        label.textContent = percent === null ? 'Arriving…' : `Arriving… ${percent.toFixed(0)}%`;
        if (percent === null) bar.removeAttribute('value');
        else bar.value = percent;
      } else if (info.state === 'failed') {
        label.textContent = info.error || 'Not available.';
        bar.hidden = true;
      } else {
        label.textContent = 'Looking for it…';
        bar.removeAttribute('value');
      }
    });
  }

  return {
    node,
    media: element,
    destroy() {
      stop();
      if (video) {
        try {
          element.pause();
          element.removeAttribute('src');
          element.load();
        } catch {
          /* already gone */
        }
      }
    },
  };
}
