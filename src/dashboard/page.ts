// The page's three files, shipped as strings so the package needs no asset copying. Each re-export
// is tagged on its own: stripInternal drops a statement, and the sources' exports are internal.
/** @internal The page's HTML. */
export { PAGE_HTML } from './page/page-html.js';
/** @internal The page's module. */
export { PAGE_SCRIPT } from './page/page-script.js';
/** @internal The page's stylesheet. */
export { PAGE_STYLE } from './page/page-style.js';
