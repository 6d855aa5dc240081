// The stage's view transform: this person's own zoom and pan over the item on the stage.
//
// Coordinates: "item" coordinates are fractions of the item's width and height (0…1); "stage"
// coordinates are CSS pixels from the stage's top left. Zoom 1 fits the whole item in the stage;
// the view's centre (cx, cy) is the item point shown at the middle of the stage.

/** The viewer's own zoom range, inside the node's (0.01…100, `Viewport.zoomRange`). */
export const ZOOM_MIN = 0.25;
export const ZOOM_MAX = 40;
export const CARD = { w: 800, h: 600 }; // the item space of notes and product cards without a picture
export const DEFAULT_VIEW = { zoom: 1, cx: 0.5, cy: 0.5 };

export const clamp = (value, low, high) => Math.min(high, Math.max(low, value));
export const round = (value, digits) => Math.round(value * 10 ** digits) / 10 ** digits;
export const clampPoint = ([x, y]) => [clamp(x, 0, 1), clamp(y, 0, 1)];

/** A document point `{x, y}` in millionths as fractions, or null. */
export function fromMillionths(point) {
  if (!point || typeof point !== 'object') return null;
  const x = Number(point.x) / 1e6;
  const y = Number(point.y) / 1e6;
  return Number.isFinite(x) && Number.isFinite(y) ? [x, y] : null;
}

/** A document viewport `{zoomThousandths, centre}` as a view, or null. */
export function viewFromDocument(viewport) {
  const zoom = Number(viewport && viewport.zoomThousandths) / 1000;
  const centre = fromMillionths(viewport && viewport.centre);
  if (!Number.isFinite(zoom) || zoom <= 0 || !centre) return null;
  return { zoom, cx: centre[0], cy: centre[1] };
}

/** A view with its zoom brought into the viewer's range. */
export const clampedView = (view) => ({ ...view, zoom: clamp(view.zoom, ZOOM_MIN, ZOOM_MAX) });

/**
 * The stage's size, the item's natural size (known once `ready`) and the own view, with the maps
 * between item and stage coordinates. Owned by the Stage; parts read it and move `view`.
 */
export class Camera {
  constructor() {
    this.size = { w: 1, h: 1 };
    this.natural = { ...CARD };
    this.ready = false; // the item's natural size is known
    this.view = { ...DEFAULT_VIEW };
  }

  fit() {
    const s = Math.min(this.size.w / this.natural.w, this.size.h / this.natural.h);
    return Number.isFinite(s) && s > 0 ? s : 1;
  }

  scale(view = this.view) {
    return this.fit() * view.zoom;
  }

  toStage(fx, fy, view = this.view) {
    const s = this.scale(view);
    return [this.size.w / 2 + (fx - view.cx) * this.natural.w * s, this.size.h / 2 + (fy - view.cy) * this.natural.h * s];
  }

  toItem(px, py, view = this.view) {
    const s = this.scale(view);
    return [view.cx + (px - this.size.w / 2) / (this.natural.w * s), view.cy + (py - this.size.h / 2) / (this.natural.h * s)];
  }

  clampedItem(pos) {
    return clampPoint(this.toItem(pos.x, pos.y));
  }

  /** Sets the zoom and puts item point `anchor` under stage position `pos`. */
  placeAt(anchor, pos, zoom) {
    this.view.zoom = clamp(zoom, ZOOM_MIN, ZOOM_MAX);
    const s = this.scale();
    this.view.cx = clamp(anchor[0] - (pos.x - this.size.w / 2) / (this.natural.w * s), 0, 1);
    this.view.cy = clamp(anchor[1] - (pos.y - this.size.h / 2) / (this.natural.h * s), 0, 1);
  }

  /** Pans by a drag of (dx, dy) pixels from `start`, a view taken when the drag began. */
  panFrom(start, dx, dy) {
    const s = this.fit() * start.zoom;
    this.view.cx = clamp(start.cx - dx / (this.natural.w * s), 0, 1);
    this.view.cy = clamp(start.cy - dy / (this.natural.h * s), 0, 1);
  }

  /** Zooms by `factor` about the middle of the stage. */
  zoomBy(factor) {
    const middle = { x: this.size.w / 2, y: this.size.h / 2 };
    this.placeAt(this.toItem(middle.x, middle.y), middle, this.view.zoom * factor);
  }
}
