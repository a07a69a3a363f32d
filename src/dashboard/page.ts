/** The page's three files, shipped as strings so the package needs no asset copying. @internal */
export { PAGE_HTML } from './page/page-html.js';
export { PAGE_SCRIPT } from './page/page-script.js';
export { PAGE_STYLE } from './page/page-style.js';
