// A charge point not written here (npm ocpp-rpc), driven by tests over JSON lines.
//
// stdin, one JSON object a line:
//   {"op":"connect","endpoint":"ws://h:p/ocpp","identity":"P1","password":"…","protocols":["ocpp1.6"],"ca":"/path.pem"}
//   {"op":"call","id":1,"method":"BootNotification","params":{…}}
//   {"op":"raw","message":"[2,\"x\",\"Heartbeat\",…]"}      (bypasses ocpp-rpc's own checks)
//   {"op":"answer","method":"Reset","result":{"status":"Accepted"}}   (how to answer the CSMS's CALLs)
//   {"op":"close"}  {"op":"kill"}  (kill drops the TCP connection without a close frame)
// stdout, one JSON object a line: {"event":"open","protocol":…}, {"event":"refused","message":…},
//   ({"event":"refused","status":401,…} when the HTTP handshake was answered with an error)
//   {"event":"result","id":…,"result":…}, {"event":"callerror","id":…,"code":…,"message":…},
//   {"event":"call","method":…,"params":…} (a CALL from the CSMS, answered as configured),
//   {"event":"message","data":"…"} (every inbound frame), {"event":"close","code":…,"reason":…}
'use strict';
const fs = require('fs');
const readline = require('readline');
const {RPCClient, createRPCError} = require('ocpp-rpc');

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const answers = {};
let client = null;

async function connect(cmd) {
    const wsOpts = {};
    if (cmd.ca) wsOpts.ca = fs.readFileSync(cmd.ca);
    client = new RPCClient({
        endpoint: cmd.endpoint,
        identity: cmd.identity,
        password: cmd.password,
        protocols: cmd.protocols,
        strictMode: true,      // the gateway's answers must satisfy ocpp-rpc's own schemas
        reconnect: false,
        callTimeoutMs: cmd.callTimeoutMs || 10000,
        wsOpts,
    });
    client.on('message', ({message, outbound}) => {
        if (!outbound) out({event: 'message', data: message.toString()});
    });
    client.on('close', ({code, reason}) => out({event: 'close', code, reason: String(reason || '')}));
    client.on('strictValidationFailure', ({error}) => out({event: 'strict', message: String(error && error.message)}));
    client.handle(({method, params}) => {
        out({event: 'call', method, params});
        if (!(method in answers)) throw createRPCError('NotImplemented');
        return answers[method];
    });
    try {
        await client.connect();
        out({event: 'open', protocol: client.protocol});
    } catch (err) {
        out({event: 'refused', status: (err && typeof err.code === 'number') ? err.code : null, message: String(err && err.message)});
    }
}

async function call(cmd) {
    try {
        const result = await client.call(cmd.method, cmd.params);
        out({event: 'result', id: cmd.id, result});
    } catch (err) {
        out({event: 'callerror', id: cmd.id, code: err.rpcErrorCode || null, message: String(err.message)});
    }
}

const rl = readline.createInterface({input: process.stdin});
rl.on('line', (line) => {
    const cmd = JSON.parse(line);
    if (cmd.op === 'connect') connect(cmd);
    else if (cmd.op === 'call') call(cmd);
    else if (cmd.op === 'raw') client.sendRaw(cmd.message);
    else if (cmd.op === 'answer') answers[cmd.method] = cmd.result;
    else if (cmd.op === 'close') client.close({code: 1000});
    else if (cmd.op === 'kill') client.close({force: true});
});
rl.on('close', () => process.exit(0));
