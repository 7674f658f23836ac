// The phone's position: one fix from navigator.geolocation, with a message an engineer can
// act on when the browser refuses or has none; and the distance to a pile.

export class NoFix extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const WHY = {
  1: 'Location is blocked for pilecare in this browser. Allow location for this site (browser or phone '
    + 'settings) and try again: the arrival is checked against the pile\'s position.',
  2: 'The phone has no location fix (location services off, or no GPS signal). Turn location on, step '
    + 'outside and try again.',
  3: 'No location fix came within 20 s. Try again in the open.',
};

// The last fix the phone gave (null before the first): screens show distances from it.
export let lastFix = null;

export function position({ timeout = 20000, maximumAge = 30000 } = {}) {
  if (!('geolocation' in navigator)) {
    return Promise.reject(new NoFix('unsupported', 'This browser cannot share its location, so the arrival cannot '
      + 'be recorded here. Open the app in Chrome or Safari on the phone.'));
  }
  return new Promise((resolve, reject) => {
    navigator.geolocation.getCurrentPosition(
      (p) => {
        lastFix = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy,
          at: new Date(p.timestamp).toISOString() };
        resolve(lastFix);
      },
      (error) => reject(new NoFix(error.code, WHY[error.code] || error.message)),
      { enableHighAccuracy: true, timeout, maximumAge });
  });
}

// Great-circle distance in km (haversine, mean Earth radius).
export function km(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad, dLon = (b.lon - a.lon) * rad;
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.sqrt(s));
}

export function distanceText(d) {
  return d < 1 ? `${Math.round(d * 1000)} m` : `${d.toFixed(d < 10 ? 1 : 0)} km`;
}
