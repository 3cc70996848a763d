// Plays one stream through the proxy: HLS with hls.js, HTTP-FLV with mpegts.js (both loaded on first
// use from /console/vendor), and WebRTC with a small WHEP client (POST the offer, apply the answer).

const DEFAULT_VHOST = '__defaultVhost__';
const ICE_GATHER_MS = 2000;

/** `vhost/app/stream` → its parts (the app may hold slashes). */
export function splitStreamKey(key) {
  const parts = String(key).split('/');
  if (parts.length < 3) return undefined;
  return { vhost: parts[0], app: parts.slice(1, -1).join('/'), stream: parts[parts.length - 1] };
}

/** Media and WHEP URLs on the proxy's listeners, for this page's host name and the ports in config.json. */
export function streamUrls(key, config) {
  const k = splitStreamKey(key);
  if (!k) return undefined;
  const secure = location.protocol === 'https:';
  const base = (http, https) => {
    const port = secure && https ? https : http;
    return `${secure && https ? 'https:' : 'http:'}//${location.hostname}:${port}`;
  };
  const media = base(config.httpServer, config.httpsServer);
  const api = base(config.httpApi, config.httpsApi);
  const path = `${k.app.split('/').map(encodeURIComponent).join('/')}/${encodeURIComponent(k.stream)}`;
  const vhostQuery = k.vhost && k.vhost !== DEFAULT_VHOST ? `?vhost=${encodeURIComponent(k.vhost)}` : '';
  const whepQuery = new URLSearchParams({ app: k.app, stream: k.stream });
  if (vhostQuery) whepQuery.set('vhost', k.vhost);
  return {
    hls: `${media}/${path}.m3u8${vhostQuery}`,
    flv: `${media}/${path}.flv${vhostQuery}`,
    whep: `${api}/rtc/v1/whep/?${whepQuery}`,
  };
}

const loaded = new Map();
function loadScript(src) {
  if (!loaded.has(src)) {
    loaded.set(
      src,
      new Promise((resolve, reject) => {
        const s = document.createElement('script');
        s.src = src;
        s.onload = resolve;
        s.onerror = () => reject(new Error(`cannot load ${src}`));
        document.head.append(s);
      }),
    );
  }
  return loaded.get(src);
}

export class Player {
  constructor(video, onState) {
    this.video = video;
    this.onState = onState;
    this.stopCurrent = undefined;
  }

  async play(kind, urls) {
    this.stop();
    const url = urls[kind];
    this.onState(url, 'starting');
    try {
      if (kind === 'hls') await this.playHls(url);
      else if (kind === 'flv') await this.playFlv(url);
      else await this.playWhep(url);
      this.video.play().catch(() => undefined);
    } catch (err) {
      this.onState(url, `error: ${err.message}`);
    }
  }

  stop() {
    const stop = this.stopCurrent;
    this.stopCurrent = undefined;
    if (stop) stop();
    this.video.removeAttribute('src');
    this.video.srcObject = null;
    this.video.load();
  }

  async playHls(url) {
    await loadScript('vendor/hls.min.js');
    const Hls = window.Hls;
    if (!Hls.isSupported()) throw new Error('this browser has no Media Source Extensions');
    const hls = new Hls({ lowLatencyMode: false });
    hls.on(Hls.Events.ERROR, (_e, d) => {
      if (d.fatal) this.onState(url, `error: ${d.details}`);
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => this.onState(url, 'playing'));
    hls.loadSource(url);
    hls.attachMedia(this.video);
    this.stopCurrent = () => hls.destroy();
  }

  async playFlv(url) {
    await loadScript('vendor/mpegts.js');
    const mpegts = window.mpegts;
    if (!mpegts.isSupported()) throw new Error('this browser has no Media Source Extensions');
    const p = mpegts.createPlayer({ type: 'flv', isLive: true, url });
    p.on(mpegts.Events.ERROR, (type, detail) => this.onState(url, `error: ${type} ${detail}`));
    p.attachMediaElement(this.video);
    p.load();
    this.onState(url, 'playing');
    this.stopCurrent = () => {
      p.pause();
      p.unload();
      p.detachMediaElement();
      p.destroy();
    };
  }

  async playWhep(url) {
    const pc = new RTCPeerConnection();
    let resource;
    this.stopCurrent = () => {
      pc.close();
      if (resource) fetch(resource, { method: 'DELETE' }).catch(() => undefined);
    };
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const media = new MediaStream();
    pc.ontrack = (e) => {
      media.addTrack(e.track);
      this.video.srcObject = media;
    };
    pc.onconnectionstatechange = () => this.onState(url, `WebRTC ${pc.connectionState}`);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
    if (res.status !== 201 && res.status !== 200) throw new Error(`WHEP offer refused: ${res.status} ${(await res.text()).slice(0, 200)}`);
    const location = res.headers.get('Location');
    if (location) resource = new URL(location, url).href;
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  }
}

/** Waits for ICE gathering (the proxy takes the offer whole, without trickle), at most ICE_GATHER_MS. */
function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, ICE_GATHER_MS);
    pc.addEventListener('icegatheringstatechange', check);
  });
}
