// Every CLI command, in the order `agentauth --help` lists them.
import type { CliCommand } from '../context.js';
import { adminKeysCreate } from './admin-keys.js';
import { auditVerify } from './audit.js';
import { clientsCreate, clientsList, clientsUpdate } from './clients.js';
import { kekGenerate } from './kek.js';
import { keysList, keysRotate } from './keys.js';
import { resourcesCreate, resourcesList } from './resources.js';
import { usersCreate } from './users.js';

export const commands: CliCommand[] = [clientsCreate, clientsList, clientsUpdate, resourcesCreate, resourcesList, keysRotate, keysList, usersCreate, adminKeysCreate, auditVerify, kekGenerate];
