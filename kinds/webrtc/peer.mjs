// One natlab peer (docs/agents.md) over a WebRTC data channel, on either of two
// ICE stacks: libdatachannel + libjuice (npm node-datachannel) or Google's
// libwebrtc (npm @roamhq/wrtc). Signalling is trickle ICE through files in
// $NATLAB_SIGNAL_DIR; the outcome comes from the stack's selected candidate pair.
// usage: node peer.mjs --stack libdatachannel|libwebrtc [--version]
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const t0 = performance.now();
const now = () => performance.now() - t0;
const ms = (t) => (t == null ? null : Math.round(t * 10) / 10);
const log = (...words) => process.stderr.write(`[${now().toFixed(1)} ms] ${words.join(' ')}\n`);

function usage(msg) {
  process.stderr.write(`peer.mjs: ${msg}\nusage: node peer.mjs --stack libdatachannel|libwebrtc [--version]\n`);
  process.exit(64);
}

function env(name, fallback) {
  const v = process.env[name];
  if (v !== undefined && v !== '') return v;
  if (fallback !== undefined) return fallback;
  usage(`$${name} is not set (docs/agents.md lists what the runner gives a peer)`);
}

function envInt(name, fallback, min) {
  const s = env(name, String(fallback));
  const v = Number(s);
  if (!Number.isInteger(v) || v < min) usage(`$${name} = ${s}: expected an integer >= ${min}`);
  return v;
}

// "IP:PORT" -> [ip, port]
function hostPort(name) {
  const s = env(name);
  const m = /^(.*):(\d{1,5})$/.exec(s);
  if (!m) usage(`$${name} = ${s}: expected IP:PORT`);
  return [m[1], Number(m[2])];
}

// ---- the two stacks behind one small interface -------------------------------
// open(ice, on) -> { offer(), setRemote(type, sdp), addCandidate(cand, mid),
// selectedPair() -> {local, remote} of {type, address, port} or null, close() },
// calling on.description(type, sdp), on.candidate(cand, mid) (null: gathering
// complete), on.iceState(state) and on.channel(channel). A channel is
// { send(text), onOpen(cb), onMessage(cb(text)), onClose(cb) }.

const stacks = {
  libdatachannel: {
    pkg: 'node-datachannel',
    async open(ice, on) {
      const ndc = (await import('node-datachannel')).default;
      ndc.initLogger(process.env.NATLAB_WEBRTC_LOG || 'Warning', (level, msg) => log(`libdatachannel ${level}: ${msg}`));
      const pc = new ndc.PeerConnection(env('NATLAB_NAME', 'peer'), {
        iceServers: [
          `stun:${ice.stun[0]}:${ice.stun[1]}`,
          { hostname: ice.turn[0], port: ice.turn[1], username: ice.user, password: ice.password, relayType: 'TurnUdp' },
        ],
      });
      const wrap = (dc) => ({
        send: (text) => dc.sendMessage(text),
        onOpen: (cb) => (dc.isOpen() ? setImmediate(cb) : dc.onOpen(cb)),
        onMessage: (cb) => dc.onMessage((m) => cb(String(m))),
        onClose: (cb) => dc.onClosed(cb),
      });
      pc.onLocalDescription((sdp, type) => on.description(type, sdp));
      pc.onLocalCandidate((cand, mid) => on.candidate(cand, mid));
      pc.onGatheringStateChange((s) => s === 'complete' && on.candidate(null));
      pc.onIceStateChange((s) => on.iceState(s));
      pc.onDataChannel((dc) => on.channel(wrap(dc)));
      return {
        // The first data channel starts the negotiation: the offer comes through onLocalDescription.
        offer: () => wrap(pc.createDataChannel('natlab')),
        setRemote: async (type, sdp) => pc.setRemoteDescription(sdp, type),
        addCandidate: async (cand, mid) => pc.addRemoteCandidate(cand, mid),
        selectedPair: async () => {
          const p = pc.getSelectedCandidatePair();
          if (!p || !p.local || !p.remote) return null;
          const c = (x) => ({ type: x.type, address: x.address, port: x.port });
          return { local: c(p.local), remote: c(p.remote) };
        },
        close: () => {
          pc.close();
          ndc.cleanup();
        },
      };
    },
  },

  libwebrtc: {
    pkg: '@roamhq/wrtc',
    async open(ice, on) {
      const { RTCPeerConnection } = require('@roamhq/wrtc');
      const pc = new RTCPeerConnection({
        iceServers: [
          { urls: `stun:${ice.stun[0]}:${ice.stun[1]}` },
          { urls: `turn:${ice.turn[0]}:${ice.turn[1]}?transport=udp`, username: ice.user, credential: ice.password },
        ],
      });
      const wrap = (dc) => ({
        send: (text) => dc.send(text),
        onOpen: (cb) => (dc.readyState === 'open' ? setImmediate(cb) : dc.addEventListener('open', cb)),
        onMessage: (cb) => dc.addEventListener('message', (e) => cb(String(e.data))),
        onClose: (cb) => dc.addEventListener('close', cb),
      });
      pc.onicecandidate = (e) =>
        on.candidate(e.candidate && e.candidate.candidate ? e.candidate.candidate : null, e.candidate?.sdpMid);
      pc.oniceconnectionstatechange = () => on.iceState(pc.iceConnectionState);
      pc.ondatachannel = (e) => on.channel(wrap(e.channel));
      return {
        offer: () => {
          const dc = pc.createDataChannel('natlab');
          pc.createOffer()
            .then((o) => pc.setLocalDescription(o))
            .then(() => on.description('offer', pc.localDescription.sdp))
            .catch((e) => on.error(`createOffer: ${e.message}`));
          return wrap(dc);
        },
        setRemote: async (type, sdp) => {
          await pc.setRemoteDescription({ type, sdp });
          if (type !== 'offer') return;
          await pc.setLocalDescription(await pc.createAnswer());
          on.description('answer', pc.localDescription.sdp);
        },
        addCandidate: async (cand, mid) => pc.addIceCandidate({ candidate: cand, sdpMid: mid }),
        // The transport's selected pair (RTCTransportStats.selectedCandidatePairId),
        // else the nominated pair that succeeded.
        selectedPair: async () => {
          if (pc.connectionState === 'closed') return null;
          const stats = [...(await pc.getStats()).values()];
          const byId = new Map(stats.map((s) => [s.id, s]));
          const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
          const pair = transport
            ? byId.get(transport.selectedCandidatePairId)
            : stats.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
          if (!pair) return null;
          const c = (x) => x && { type: x.candidateType, address: x.address ?? x.ip, port: x.port };
          const local = c(byId.get(pair.localCandidateId));
          const remote = c(byId.get(pair.remoteCandidateId));
          return local && remote ? { local, remote } : null;
        },
        close: () => pc.close(),
      };
    },
  },
};

function version(stack) {
  const file = path.join(here, 'node_modules', ...stack.pkg.split('/'), 'package.json');
  const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
  console.log(`${pkg.name} ${pkg.version}`);
}

// ---- signalling through files in $NATLAB_SIGNAL_DIR ---------------------------
// NAME.desc.json: {type, sdp}; NAME.cand-N.json: {candidate, mid}, or {end: true}
// after the last. Each written under a dot-name first, then renamed.

class Signal {
  constructor(dir, me, peer, handlers) {
    this.dir = dir;
    this.me = me;
    this.peer = peer;
    this.handlers = handlers;
    this.n = 0;
    this.haveDesc = false;
    this.seen = new Set();
  }

  start() {
    // Watch first, then scan: a file renamed in between is seen by one or the other.
    this.watcher = fs.watch(this.dir, () => this.scan());
    this.watcher.on('error', (e) => log(`signal dir watch: ${e.message}`));
    this.scan();
  }

  stop() {
    if (this.watcher) this.watcher.close();
  }

  write(name, obj) {
    const tmp = path.join(this.dir, `.${name}.tmp`);
    fs.writeFileSync(tmp, JSON.stringify(obj));
    fs.renameSync(tmp, path.join(this.dir, name));
  }

  sendDescription(type, sdp) {
    this.write(`${this.me}.desc.json`, { type, sdp });
  }

  sendCandidate(candidate, mid) {
    this.write(`${this.me}.cand-${this.n++}.json`, candidate == null ? { end: true } : { candidate, mid });
  }

  read(name) {
    return JSON.parse(fs.readFileSync(path.join(this.dir, name), 'utf8'));
  }

  scan() {
    let names;
    try {
      names = fs.readdirSync(this.dir);
    } catch (e) {
      return log(`signal dir: ${e.message}`);
    }
    if (!this.haveDesc && names.includes(`${this.peer}.desc.json`)) {
      this.haveDesc = true;
      const d = this.read(`${this.peer}.desc.json`);
      this.handlers.description(d.type, d.sdp);
    }
    const prefix = `${this.peer}.cand-`;
    const fresh = names
      .filter((f) => f.startsWith(prefix) && f.endsWith('.json') && !this.seen.has(f))
      .sort((a, b) => parseInt(a.slice(prefix.length), 10) - parseInt(b.slice(prefix.length), 10));
    for (const f of fresh) {
      this.seen.add(f);
      const c = this.read(f);
      if (!c.end) this.handlers.candidate(c.candidate, c.mid);
    }
  }
}

// ---- the peer ------------------------------------------------------------------

// relay on either side: relayed; host on both: the LAN; else direct, by punching
// to the peer's signalled (server-reflexive) address, or to a peer-reflexive one
// its checks revealed (a NAT that maps per destination).
function classify(pair) {
  if (!pair) return { path: 'none', technique: 'none' };
  const types = [pair.local.type, pair.remote.type];
  if (types.includes('relay')) return { path: 'relay', technique: 'none' };
  if (types.every((t) => t === 'host')) return { path: 'lan', technique: 'lan' };
  if (types.includes('prflx')) return { path: 'direct', technique: 'prflx' };
  return { path: 'direct', technique: 'punch' };
}

const describe = (pair) =>
  pair
    ? `${pair.local.type} ${pair.local.address}:${pair.local.port} -> ${pair.remote.type} ${pair.remote.address}:${pair.remote.port}`
    : 'none';

// A stack can wedge the JavaScript thread: libdatachannel 0.24.5 (node-datachannel
// 0.33.4) deadlocks between its DTLS start on libjuice's thread and a DTLS
// handshake step sending through libjuice (libdatachannel PR #1630), and the
// next call into libjuice blocks for good. Then a worker thread, whose timers
// still run, reports the failure once the main thread has not reported by
// `at` ms; whichever flips `claim` first prints the one result line.
function watchdog(claim, at, line) {
  const code = `
    const { workerData: w } = require('node:worker_threads');
    const fs = require('node:fs');
    setTimeout(() => {
      if (Atomics.compareExchange(w.claim, 0, 0, 1) === 0) fs.writeSync(1, w.line + '\\n');
    }, w.at);`;
  new Worker(code, { eval: true, workerData: { claim, at, line } }).unref();
}

async function main() {
  const argv = process.argv.slice(2);
  let stackName = null;
  let wantVersion = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--stack' && i + 1 < argv.length) stackName = argv[++i];
    else if (argv[i] === '--version') wantVersion = true;
    else usage(`unknown argument '${argv[i]}'`);
  }
  const stack = stacks[stackName];
  if (!stack) usage(`--stack ${stackName ?? '(missing)'}: expected one of ${Object.keys(stacks).join(', ')}`);
  if (wantVersion) return version(stack);

  const role = env('NATLAB_ROLE');
  if (role !== 'listen' && role !== 'connect') usage(`$NATLAB_ROLE = ${role}: expected listen or connect`);
  const me = env('NATLAB_NAME');
  const peerName = env('NATLAB_PEER');
  const dir = env('NATLAB_SIGNAL_DIR');
  const deadline = envInt('NATLAB_DEADLINE_MS', 60000, 1);
  const count = envInt('NATLAB_SEND', 10, 1);
  const interval = envInt('NATLAB_INTERVAL_MS', 100, 0);
  const ice = {
    stun: hostPort('NATLAB_STUN'),
    turn: hostPort('NATLAB_TURN'),
    user: env('NATLAB_TURN_USER'),
    password: env('NATLAB_TURN_PASSWORD'),
  };

  let done = false;
  let peer = null;
  let signal = null;
  let sent = 0;
  let delivered = 0;
  let firstByte = null;
  let firstDirect = null;
  let lastPair = null;
  const claim = new Int32Array(new SharedArrayBuffer(4));
  const finish = (result) => {
    if (done) return;
    done = true;
    if (result && Atomics.compareExchange(claim, 0, 0, 1) === 0) process.stdout.write(JSON.stringify(result) + '\n');
    if (signal) signal.stop();
    try {
      if (peer) peer.close();
    } catch (e) {
      log(`close: ${e.message}`);
    }
    process.exit(0);
  };
  const fail = (reason) => finish(role === 'connect' ? { outcome: 'failed', reason, sent, delivered } : null);
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => finish(null));

  const watchPair = async () => {
    if (done || !peer) return;
    const pair = await peer.selectedPair();
    if (describe(pair) !== describe(lastPair)) log(`selected pair: ${describe(pair)}`);
    lastPair = pair;
    if (firstDirect == null && pair && classify(pair).path !== 'relay') firstDirect = now();
  };

  // Remote candidates wait for the remote description.
  let remoteSet = null;
  const pending = [];
  signal = new Signal(dir, me, peerName, {
    description: (type, sdp) => {
      log(`remote ${type} (${sdp.split('\n').filter((l) => l.startsWith('a=candidate')).length} candidates in it)`);
      remoteSet = peer.setRemote(type, sdp).catch((e) => fail(`setRemoteDescription: ${e.message}`));
      remoteSet.then(() => pending.splice(0).forEach(([c, m]) => addCandidate(c, m)));
    },
    candidate: (c, m) => (remoteSet ? remoteSet.then(() => addCandidate(c, m)) : pending.push([c, m])),
  });
  const addCandidate = (c, m) => {
    log(`remote candidate ${c}`);
    peer.addCandidate(c, m).catch((e) => log(`addCandidate ${c}: ${e.message}`));
  };

  const echo = (ch) => {
    ch.onMessage((text) => ch.send(text));
    ch.onClose(() => {
      log('data channel closed by the peer');
      finish(null);
    });
  };
  const drive = (ch) => {
    const echoed = new Set();
    ch.onMessage((text) => {
      const m = /^natlab (\d+)$/.exec(text);
      if (!m || echoed.has(m[1]) || Number(m[1]) >= sent) return log(`unexpected message '${text}'`);
      echoed.add(m[1]);
      delivered++;
      if (firstByte == null) firstByte = now();
      if (delivered === count) report();
    });
    ch.onOpen(() => {
      log('data channel open');
      watchPair();
      const tick = () => {
        if (done) return;
        ch.send(`natlab ${sent}`);
        sent++;
        if (sent < count) setTimeout(tick, interval);
      };
      tick();
    });
  };
  const report = async () => {
    await watchPair();
    const pair = lastPair;
    const c = classify(pair);
    log(`outcome from the selected pair ${describe(pair)}`);
    finish({
      outcome: c.path === 'relay' ? 'relayed' : pair ? 'direct' : 'failed',
      path: c.path,
      technique: c.technique,
      time_to_first_byte_ms: ms(firstByte),
      time_to_direct_ms: c.path === 'relay' ? null : ms(firstDirect),
      sent,
      delivered,
      ...(pair ? { pair: describe(pair) } : { reason: 'no selected candidate pair' }),
    });
  };

  peer = await stack.open(ice, {
    description: (type, sdp) => {
      log(`local ${type}`);
      signal.sendDescription(type, sdp);
    },
    candidate: (c, m) => {
      log(c == null ? 'gathering complete' : `local candidate ${c}`);
      signal.sendCandidate(c, m);
    },
    iceState: (s) => {
      log(`ICE ${s}`);
      if (s === 'connected' || s === 'completed') watchPair();
      if (s === 'failed') fail('ICE failed: no candidate pair succeeded');
    },
    channel: (ch) => (role === 'listen' ? echo(ch) : log('unexpected data channel from the listener')),
    error: (msg) => fail(msg),
  });
  signal.start();
  log(`${role}: ${stack.pkg} peer ${me}, signalling with ${peerName} through ${dir}`);
  if (role === 'connect') {
    drive(peer.offer());
    // Path changes (libwebrtc may switch from a relay pair to a direct one).
    setInterval(watchPair, 100).unref();
    // Leave time to report before the runner's deadline; fewer echoes than sent is a failure the runner names.
    setTimeout(() => (delivered > 0 ? report() : fail(`no echo within ${deadline - 1500} ms`)), Math.max(deadline - 1500, 500));
    const wedged = { outcome: 'failed', reason: `the ${stack.pkg} stack blocked the peer's JavaScript thread (no result from it ${deadline - 1000} ms after start)` };
    watchdog(claim, Math.max(deadline - 1000, 1000) - now(), JSON.stringify(wedged));
  } else {
    setTimeout(() => finish(null), deadline);
  }
}

main().catch((e) => {
  log(`peer.mjs: ${e.stack || e}`);
  process.exit(1);
});
