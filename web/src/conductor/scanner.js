// Reading a ticket's QR code: from the camera (getUserMedia into a <video>, each frame drawn
// on a canvas and given to jsQR) or from an image file (decoded with createImageBitmap, so no
// blob: URL is needed under the gateway's Content-Security-Policy). No network.
import jsQR from 'jsqr';

/** The text of the QR code in `source` (an ImageBitmap, video or image), or null. */
function decode(canvas, source, width, height) {
  if (!width || !height) return null;
  // Big photos are scaled down: a ticket's code stays readable and jsQR stays quick.
  const scale = Math.min(1, 1280 / Math.max(width, height));
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  const g = canvas.getContext('2d', { willReadFrequently: true });
  g.drawImage(source, 0, 0, canvas.width, canvas.height);
  const image = g.getImageData(0, 0, canvas.width, canvas.height);
  const found = jsQR(image.data, image.width, image.height, { inversionAttempts: 'attemptBoth' });
  return found ? found.data : null;
}

/** The QR text of an image file, or null when none is found in it. */
export async function readImageFile(file) {
  const bitmap = await createImageBitmap(file);
  try {
    return decode(document.createElement('canvas'), bitmap, bitmap.width, bitmap.height);
  } finally {
    bitmap.close?.();
  }
}

/** Whether this browser can offer the camera at all. */
export const cameraSupported = () => Boolean(navigator.mediaDevices?.getUserMedia);

/**
 * Starts the back camera in `video` and calls `onCode(text)` for each code seen (the same
 * code again only after 3 s). Resolves to `stop()`; rejects when the camera is refused.
 */
export async function startCamera(video, onCode) {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: { ideal: 'environment' } },
    audio: false,
  });
  video.srcObject = stream;
  video.setAttribute('playsinline', '');
  video.muted = true;
  await video.play();
  const canvas = document.createElement('canvas');
  let frame = 0;
  let last = { text: null, at: 0 };
  let running = true;
  const tick = () => {
    if (!running) return;
    if (video.readyState >= video.HAVE_CURRENT_DATA) {
      const text = decode(canvas, video, video.videoWidth, video.videoHeight);
      const now = Date.now();
      if (text && (text !== last.text || now - last.at > 3000)) {
        last = { text, at: now };
        onCode(text);
      }
    }
    frame = requestAnimationFrame(tick);
  };
  frame = requestAnimationFrame(tick);
  return () => {
    running = false;
    cancelAnimationFrame(frame);
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };
}
