// The ticket's QR code as an inline <svg> built from DOM nodes (no markup strings, no inline
// styles), so it satisfies the gateway's Content-Security-Policy.
import qrcode from 'qrcode-generator';
import { svg } from './dom.js';

/** An <svg role="img"> encoding `text`, labelled for screen readers. */
export function qrSvg(text, { label = `QR code of ${text}`, quiet = 4 } = {}) {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const size = n + quiet * 2;
  let d = '';
  for (let row = 0; row < n; row += 1) {
    for (let col = 0; col < n; col += 1) {
      if (qr.isDark(row, col)) d += `M${col + quiet} ${row + quiet}h1v1h-1z`;
    }
  }
  return svg(
    'svg',
    {
      class: 'qr',
      role: 'img',
      'aria-label': label,
      'data-code': text,
      viewBox: `0 0 ${size} ${size}`,
      'shape-rendering': 'crispEdges',
      xmlns: 'http://www.w3.org/2000/svg',
    },
    svg('title', {}, label),
    svg('rect', { width: size, height: size, fill: '#fff' }),
    svg('path', { d, fill: '#000' }),
  );
}
