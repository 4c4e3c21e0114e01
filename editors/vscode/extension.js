// Starts the netspec language server (`netspec lsp`, speaking LSP over stdin and stdout) for the
// .net files VS Code opens; highlighting comes from syntaxes/netspec.tmLanguage.json without it.
"use strict";

const { workspace } = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate() {
  const command = workspace.getConfiguration("netspec").get("server.command", "netspec");
  const server = { command, args: ["lsp"] };  // an executable's default transport is stdio
  client = new LanguageClient("netspec", "netspec", { run: server, debug: server }, {
    documentSelector: [{ scheme: "file", language: "netspec" }],
  });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
