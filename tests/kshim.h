/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The real kernel's fault and count layer (tests/kshim.c). */
#ifndef KSHIM_H
#define KSHIM_H

/* Disarm, zero the counts and forget the SET log (kenv_setup). */
void kshim_reset(void);

#endif
