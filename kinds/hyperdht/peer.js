'use strict'
// natlab peer for the hyperdht kind (docs/agents.md). NATLAB_ROLE=listen:
// a server on a key pair derived from the attempt's seed, its public key in
// $NATLAB_SIGNAL_DIR/listener.json, every message echoed. NATLAB_ROLE=connect:
// dht.connect(key), NATLAB_SEND messages, one JSON result line on stdout.
// Relaying follows Hyperswarm's default policy: a peer whose own NAT the DHT
// found randomized offers the blind relay from the start; any other connects
// without it and retries through it on the errors Hyperswarm retries on.
const fs = require('fs')
const path = require('path')
const crypto = require('crypto')
const { performance } = require('perf_hooks')

const KEY_FILE = 'listener.json'
const SHARED_FILE = 'hyperdht.json'
const CONN_FILE = 'listener-connection.json'
// hyperswarm/index.js shouldForceRelaying()
const FORCE_RELAY_CODES = ['HOLEPUNCH_ABORTED', 'HOLEPUNCH_DOUBLE_RANDOMIZED_NATS', 'REMOTE_NOT_HOLEPUNCHABLE']

const log = (...a) => console.error(`hyperdht-${process.env.NATLAB_ROLE || 'peer'}:`, ...a)
const now = () => Math.round(performance.now() * 10) / 10

if (process.argv[2] === '--version') {
  console.log(require('hyperdht/package.json').version)
  process.exit(0)
}

const DHT = require('hyperdht')
const Holepuncher = require('hyperdht/lib/holepuncher')
const { FIREWALL } = require('hyperdht/lib/constants')

function env(name, fallback) {
  const v = process.env[name]
  if (v === undefined || v === '') {
    if (fallback !== undefined) return fallback
    throw new Error(`${name} is not set (the runner sets it: docs/agents.md)`)
  }
  return v
}

// Resolves with the file's parsed JSON once it exists (written by rename).
function waitForFile(dir, name) {
  const file = path.join(dir, name)
  return new Promise((resolve, reject) => {
    let watcher = null
    const tryRead = () => {
      let text
      try {
        text = fs.readFileSync(file, 'utf8')
      } catch (err) {
        if (err.code === 'ENOENT') return false
        throw err
      }
      if (watcher) watcher.close()
      resolve(JSON.parse(text))
      return true
    }
    try {
      watcher = fs.watch(dir, (_, changed) => {
        if (!changed || changed === name) {
          try {
            tryRead()
          } catch (err) {
            reject(err)
          }
        }
      })
      tryRead()
    } catch (err) {
      if (watcher) watcher.close()
      reject(err)
    }
  })
}

function writeAtomically(dir, name, obj) {
  const tmp = path.join(dir, `.${name}.tmp`)
  fs.writeFileSync(tmp, JSON.stringify(obj) + '\n')
  fs.renameSync(tmp, path.join(dir, name))
}

// Holepunch sessions of this process that may still connect: hyperdht keeps
// going on them after a relayed stream opened, and upgrades it when one does.
const punchers = new Set()
const puncherEnded = []
let puncherWon = null // how the puncher that connected got there
// The first calls of a client's probe round (hyperdht/lib/connect.js).
for (const name of ['openSession', 'analyze']) {
  const orig = Holepuncher.prototype[name]
  Holepuncher.prototype[name] = function (...args) {
    if (!this.destroyed && !this.connected) punchers.add(this)
    return orig.apply(this, args)
  }
}
const origDestroy = Holepuncher.prototype.destroy
Holepuncher.prototype.destroy = function () {
  if (this.connected && !this.destroyed) {
    puncherWon = {
      // connected before punch(): the server's fast-open ping during the probe round
      punched: this._punching !== null,
      local: this.nat.firewall,
      remote: this.remoteFirewall
    }
  }
  const r = origDestroy.call(this)
  if (punchers.delete(this)) for (const f of puncherEnded.splice(0)) f()
  return r
}

function makeDht(shared) {
  return new DHT({ bootstrap: shared.bootstrap })
}

async function listen() {
  const signalDir = env('NATLAB_SIGNAL_DIR')
  const shared = await waitForFile(env('NATLAB_SHARED_DIR'), SHARED_FILE)
  const relayKey = Buffer.from(shared.relay, 'hex')
  const dht = makeDht(shared)
  const stop = async () => {
    setTimeout(() => process.exit(0), 1000).unref()
    await dht.destroy({ force: true }).catch(() => {})
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)

  await dht.fullyBootstrapped()
  log(`bootstrapped at ${now()} ms: firewalled=${dht.firewalled} randomized=${dht.randomized} nat=${dht.host}:${dht.port}`)

  const seed = crypto
    .createHash('sha256')
    .update(`natlab-hyperdht:${env('NATLAB_SCENARIO', '')}:${env('NATLAB_ATTEMPT', '')}:${env('NATLAB_SEED', '')}`)
    .digest()
  const keyPair = DHT.keyPair(seed)
  // Hyperswarm's default: relay when the caller forces it (never here) or our NAT is randomized.
  const server = dht.createServer({ relayThrough: () => (dht.randomized ? relayKey : null) }, (socket) => {
    const raw = socket.rawStream
    log(`connection from ${raw ? raw.remoteHost + ':' + raw.remotePort : '?'} at ${now()} ms`)
    const report = () => {
      const remote = `${raw.remoteHost}:${raw.remotePort}`
      const onRelay = raw.remoteHost === shared.relayAddress.host && raw.remotePort === shared.relayAddress.port
      writeAtomically(signalDir, CONN_FILE, { path: onRelay ? 'relay' : 'direct', remote, at: now() })
    }
    if (raw) {
      report()
      raw.on('remote-changed', () => {
        log(`stream moved to ${raw.remoteHost}:${raw.remotePort} at ${now()} ms`)
        report()
      })
    }
    socket.on('data', (data) => socket.write(data))
    socket.on('end', () => socket.end())
    socket.on('error', (err) => log('stream error:', err.code || err.message))
  })
  await server.listen(keyPair)
  writeAtomically(signalDir, KEY_FILE, {
    publicKey: keyPair.publicKey.toString('hex'),
    localIp: env('NATLAB_LOCAL_IP', '')
  })
  log(`listening as ${keyPair.publicKey.toString('hex').slice(0, 16)}... at ${now()} ms`)
}

async function connect() {
  const deadline = Number(env('NATLAB_DEADLINE_MS', '60000'))
  const nsend = Number(env('NATLAB_SEND', '10'))
  const interval = Number(env('NATLAB_INTERVAL_MS', '100'))
  const serverIps = new Set([env('NATLAB_SERVER_IP'), env('NATLAB_SERVER_IP2', '')])
  let dht = null
  let done = false

  const finish = async (result) => {
    if (done) return
    done = true
    process.stdout.write(JSON.stringify(result) + '\n')
    if (dht) {
      log('stats', JSON.stringify({ punches: dht.stats.punches, relaying: dht.stats.relaying }))
      setTimeout(() => process.exit(0), 1000).unref()
      await dht.destroy({ force: true }).catch(() => {})
    }
    process.exit(0)
  }
  const fail = (reason) => finish({ outcome: 'failed', path: 'none', reason })
  setTimeout(() => fail(`no outcome ${deadline - 2000} ms after start`), Math.max(deadline - 2000, 1000)).unref()
  process.on('SIGTERM', () => fail('stopped by SIGTERM'))

  const shared = await waitForFile(env('NATLAB_SHARED_DIR'), SHARED_FILE)
  const relayKey = Buffer.from(shared.relay, 'hex')
  dht = makeDht(shared)
  await dht.fullyBootstrapped()
  log(`bootstrapped at ${now()} ms: firewalled=${dht.firewalled} randomized=${dht.randomized} nat=${dht.host}:${dht.port}`)

  const listener = await waitForFile(env('NATLAB_SIGNAL_DIR'), KEY_FILE)
  const remoteKey = Buffer.from(listener.publicKey, 'hex')
  log(`listener key at ${now()} ms`)

  const errors = []
  let socket = null
  let forced = false
  for (;;) {
    const relayThrough = forced || dht.randomized ? relayKey : null
    const before = { ...dht.stats.punches }
    log(`connect at ${now()} ms${relayThrough ? ' with relayThrough the blind relay' : ''}`)
    socket = dht.connect(remoteKey, { relayThrough })
    const err = await new Promise((resolve) => {
      socket.once('open', () => resolve(null))
      socket.once('error', resolve)
      socket.once('close', () => resolve(new Error('closed before open')))
    })
    if (!err) {
      socket.natlabBefore = before
      break
    }
    errors.push(err.code || err.message)
    log(`connect failed at ${now()} ms: ${err.code || ''} ${err.message}`)
    if (!forced && FORCE_RELAY_CODES.includes(err.code)) {
      forced = true
      continue
    }
    return fail(`hyperdht: ${errors.join(', then ')}`)
  }

  const opened = now()
  const raw = socket.rawStream
  const isRelay = () => serverIps.has(raw.remoteHost)
  const pathNow = () => (isRelay() ? 'relay' : raw.remoteHost === listener.localIp ? 'lan' : 'direct')
  let timeToDirect = isRelay() ? null : opened
  let upgraded = null
  const upgradedP = new Promise((resolve) => (upgraded = resolve))
  raw.on('remote-changed', () => {
    log(`stream moved to ${raw.remoteHost}:${raw.remotePort} at ${now()} ms`)
    if (!isRelay() && timeToDirect === null) timeToDirect = now()
    if (!isRelay()) upgraded()
  })
  log(`open at ${opened} ms via ${raw.remoteHost}:${raw.remotePort} (${pathNow()})`)
  let streamError = null
  let closed = null
  const closedP = new Promise((resolve) => (closed = resolve))
  socket.on('error', (e) => {
    streamError = e.code || e.message
    log('stream error:', streamError)
  })
  socket.on('close', () => closed())

  let delivered = 0
  let sent = 0
  let ttfb = null
  const seen = new Set()
  let allEchoed = null
  const allEchoedP = new Promise((resolve) => (allEchoed = resolve))
  socket.on('data', (data) => {
    const m = /^natlab (\d+)$/.exec(data.toString())
    if (!m || seen.has(m[1])) return
    seen.add(m[1])
    if (ttfb === null) ttfb = now()
    if (++delivered === nsend) allEchoed()
  })
  for (let i = 1; i <= nsend; i++) {
    socket.write(Buffer.from(`natlab ${i}`))
    sent++
    if (i < nsend) await new Promise((resolve) => setTimeout(resolve, interval))
  }
  const echoWait = Math.max(deadline - 4000 - now(), 1000)
  await Promise.race([allEchoedP, closedP, new Promise((resolve) => setTimeout(resolve, echoWait).unref())])
  if (delivered < sent) {
    // The listener's own view of its end, for the reason (README: the fast-open/relay race).
    let theirs = ''
    try {
      const l = JSON.parse(fs.readFileSync(path.join(env('NATLAB_SIGNAL_DIR'), CONN_FILE), 'utf8'))
      theirs = `, the listener's end ${l.path === 'relay' ? 'through the relay' : 'direct'} (${l.remote})`
    } catch {}
    return finish({
      outcome: 'failed',
      path: 'none',
      technique: 'none',
      time_to_first_byte_ms: ttfb,
      sent,
      delivered,
      reason:
        `stream opened at ${opened} ms, ${pathNow()} to ${raw.remoteHost}:${raw.remotePort}${theirs}; ` +
        `${delivered} of ${sent} messages came back` +
        (streamError ? `; stream error ${streamError}` : `; none after ${echoWait} ms`)
    })
  }

  // Relayed while hyperdht still punches: its outcome is the punch's.
  if (isRelay() && punchers.size > 0) {
    log(`relayed with ${punchers.size} holepunch(es) still running at ${now()} ms: waiting for them`)
    const ended = new Promise((resolve) => {
      const check = () => (punchers.size === 0 ? resolve() : puncherEnded.push(check))
      check()
    })
    const wait = Math.max(deadline - 3000 - now(), 0)
    await Promise.race([upgradedP, ended, new Promise((resolve) => setTimeout(resolve, wait).unref())])
  }

  const p = dht.stats.punches
  const b = socket.natlabBefore
  const path_ = pathNow()
  let technique = 'none'
  if (path_ === 'lan') technique = 'lan'
  else if (path_ === 'direct') {
    // hyperdht's words: dht.stats.punches.{open,consistent,random}, and the
    // server's ping of the probe round that holepuncher.js calls "fast open".
    if (puncherWon && !puncherWon.punched) technique = 'fast-open'
    else if (puncherWon) technique = puncherWon.local >= FIREWALL.RANDOM || puncherWon.remote >= FIREWALL.RANDOM ? 'random' : 'consistent'
    else if (p.open > b.open) technique = 'open'
    else technique = 'server-punch'
  }
  const result = {
    outcome: path_ === 'relay' ? 'relayed' : 'direct',
    path: path_,
    technique,
    time_to_first_byte_ms: ttfb,
    time_to_direct_ms: path_ === 'relay' ? null : timeToDirect,
    sent,
    delivered
  }
  if (errors.length) result.reason = `first attempt: ${errors.join(', then ')}; relay forced`
  return finish(result)
}

const role = process.env.NATLAB_ROLE
const main = role === 'listen' ? listen : role === 'connect' ? connect : null
if (!main) {
  console.error(`hyperdht peer: NATLAB_ROLE=${role || ''}: allowed: listen, connect`)
  process.exit(2)
}
main().catch((err) => {
  console.error(`hyperdht-${role}: error:`, err && err.stack ? err.stack : err)
  if (role === 'connect') {
    process.stdout.write(JSON.stringify({ outcome: 'failed', path: 'none', reason: `adapter error: ${err.message}` }) + '\n')
  }
  process.exit(role === 'connect' ? 0 : 1)
})
