// SPDX-License-Identifier: GPL-2.0
/* Placeholder: helper V writes the sweep test. */
int main(void)
{
	return 77;
}
