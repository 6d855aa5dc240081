#ifndef CVPEER_CSQLITE_SHIM_H
#define CVPEER_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif
