#ifndef CVPEER_CSODIUM_SHIM_H
#define CVPEER_CSODIUM_SHIM_H
#include <sodium.h>
#endif
