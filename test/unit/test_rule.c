// SPDX-License-Identifier: GPL-2.0
/* placeholder until written */
int main(void)
{
	return 77;
}
